"""Standard Webhooks signatures (https://www.standardwebhooks.com), made with the reference
implementation (the ``standardwebhooks`` package), so receivers can verify with any of the
scheme's libraries.

Every message carries ``webhook-id`` (the delivery's id: the same on every retry, so a receiver
can drop a repeat), ``webhook-timestamp`` (when this attempt was signed) and
``webhook-signature``. After a secret rotation the previous secret signs beside the new one
until its grace time ends: the header then holds two space-separated ``v1,...`` signatures and
a receiver holding either secret accepts the message.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from standardwebhooks import Webhook


@dataclass(frozen=True)
class SigningKeys:
    """The secrets a subscription signs with now: its own, and the previous one during grace."""

    secret: str
    previous_secret: str | None = None
    previous_secret_expires_at: datetime | None = None

    def active(self, now: datetime) -> list[str]:
        keys = [self.secret]
        if (
            self.previous_secret is not None
            and self.previous_secret_expires_at is not None
            and now < self.previous_secret_expires_at
        ):
            keys.append(self.previous_secret)
        return keys


def signed_headers(
    keys: SigningKeys, message_id: str, body: str, *, now: datetime | None = None
) -> dict[str, str]:
    """The three Standard Webhooks headers for ``body`` (the exact text sent) signed now."""
    now = now or datetime.now(UTC)
    # The scheme signs whole seconds; the header and the signature must agree on them.
    timestamp = datetime.fromtimestamp(int(now.timestamp()), tz=UTC)
    signatures = [
        Webhook(secret).sign(msg_id=message_id, timestamp=timestamp, data=body)
        for secret in keys.active(now)
    ]
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": " ".join(signatures),
    }
