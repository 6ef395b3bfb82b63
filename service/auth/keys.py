"""Where the token signing keys come from: the settings, or a key generated once and kept in the
data folder (so a single local instance needs no configuration and tokens survive restarts)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from service.auth.tokens import TokenKeys
from service.settings import Settings


def _stored_key(data_dir: Path) -> str:
    path = data_dir / "jwt-key"
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    # Created with owner-only permissions before the key is written.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key)
    return key


def token_keys(settings: Settings) -> TokenKeys:
    current = (
        settings.jwt_key.get_secret_value()
        if settings.jwt_key is not None
        else _stored_key(settings.data_dir)
    )
    keys = {kid: key.get_secret_value() for kid, key in settings.jwt_previous_keys.items()}
    keys[settings.jwt_key_id] = current
    return TokenKeys(
        current_kid=settings.jwt_key_id,
        keys=keys,
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
    )
