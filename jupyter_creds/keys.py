"""Which Fernet keys encrypt the token store: environment, configuration, or a generated file.

Kept apart from the store because choosing keys is the administrator's side of the story (where
the secret lives, how to rotate it), while the store only uses them. Error messages say which key
is wrong (``JUPYTER_CREDS_KEY key #2``) and never echo any of its text.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import stat
from collections.abc import Sequence
from pathlib import Path

from cryptography.fernet import Fernet

from .filelock import create_private_file_once, ensure_private_dir

KEY_ENV = "JUPYTER_CREDS_KEY"
_KEY_HINT = (
    "generate one with: python -c "
    '"from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"'
)


def key_id(key: str) -> str:
    """Public id of a Fernet key: 8 hex digits of SHA-256 of its raw bytes (not of its text, so
    padding does not matter). 32 bits of a hash say nothing useful about a 256-bit key."""
    return hashlib.sha256(base64.urlsafe_b64decode(key)).hexdigest()[:8]


def checked_key(key: str, where: str) -> str:
    """``key`` stripped, or a ValueError naming ``where``: never the key text, not even in part."""
    key = key.strip() if isinstance(key, str) else key
    try:
        Fernet(key)
    except (ValueError, TypeError):
        raise ValueError(
            f"{where} is not a valid Fernet key (32 url-safe base64-encoded bytes); {_KEY_HINT}"
        ) from None
    return key


def resolve_keys(
    *, env_value: str | None, configured: Sequence[str], key_file: Path, log: logging.Logger
) -> list[str]:
    """The encryption keys, first one encrypting, the others only decrypting (for rotation).

    ``JUPYTER_CREDS_KEY`` (``;``-separated) wins, then the configured list, then ``key_file``,
    created with a fresh key when missing. That file is the zero-setup default and the weakest
    choice (the key sits next to the tokens), so creating it logs a WARNING that says how to do
    better.
    """
    env_keys = [k.strip() for k in (env_value or "").split(";") if k.strip()]
    if env_keys:
        return [checked_key(k, f"{KEY_ENV} key #{i}") for i, k in enumerate(env_keys, 1)]
    given = [k for k in configured if k and k.strip()]
    if given:
        return [checked_key(k, f"configured encryption key #{i}") for i, k in enumerate(given, 1)]
    key_file = Path(key_file)
    ensure_private_dir(key_file.parent)
    if create_private_file_once(key_file, Fernet.generate_key() + b"\n"):
        log.warning(
            "jupyter_creds: stored tokens are encrypted with a key kept next to them, in %s "
            "(created now, mode 0600): anyone who can read both files can decrypt the tokens. "
            "To keep the key elsewhere, set %s to one or more Fernet keys separated by ';' (the "
            "first encrypts, the others still decrypt), e.g. from a secret manager; %s",
            key_file,
            KEY_ENV,
            _KEY_HINT,
        )
    mode = stat.S_IMODE(key_file.stat().st_mode)
    if mode != 0o600:
        os.chmod(key_file, 0o600)
        if mode & 0o077:
            log.warning("jupyter_creds: %s was readable by others; made it 0600", key_file)
    try:
        text = key_file.read_bytes().decode("ascii")
    except UnicodeDecodeError:
        text = ""  # reported as invalid, without echoing any byte of it
    return [checked_key(text, f"the key in {key_file}")]
