"""Password hashing (argon2 through pwdlib) and opaque tokens stored only as hashes."""

from __future__ import annotations

import hashlib
import secrets

from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

from shared.errors import ErrorCode, Issue

_hasher = PasswordHash((Argon2Hasher(),))

# Verified against when a username is unknown, so that timing does not reveal which exist.
_DUMMY_HASH = _hasher.hash("pilotmon-timing-equaliser")

MIN_PASSWORD_LENGTH = 10


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password: str, password_hash: str | None) -> bool:
    if password_hash is None:
        _hasher.verify(password, _DUMMY_HASH)
        return False
    try:
        return _hasher.verify(password, password_hash)
    except Exception:  # noqa: BLE001
        return False


def new_token(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)


def token_hash(token: str) -> str:
    """Tokens are long and random, so a plain SHA-256 is the right store (no KDF needed)."""
    return hashlib.sha256(token.encode()).hexdigest()


def password_problem(password: str) -> Issue | None:
    """Why a new password is unacceptable, or None."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return Issue(
            "password", ErrorCode.TOO_SHORT, f"must be at least {MIN_PASSWORD_LENGTH} characters"
        )
    if len(password) > 256:
        return Issue("password", ErrorCode.TOO_LONG, "must be at most 256 characters")
    return None
