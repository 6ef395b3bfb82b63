"""Where webhook messages may be sent.

A placeholder hook: the dispatcher's branch owns this module and replaces it with the real check
(no private, loopback or link-local addresses: SSRF). Subscriptions call it on create and on
every change of ``url``, after their own check of the scheme and host."""

from __future__ import annotations


def check_target_url(url: str) -> None:
    """Refuse (``ValidationFailed`` naming ``url``) a target the service must not call."""
