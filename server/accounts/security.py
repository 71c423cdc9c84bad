"""Password hashing (argon2 through pwdlib), the password rule, and opaque tokens stored only as
hashes."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence

from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from zxcvbn import zxcvbn

from shared.errors import ErrorCode, Issue

_hasher = PasswordHash((Argon2Hasher(),))

# Verified against when a username is unknown, so that timing does not reveal which exist.
_DUMMY_HASH = _hasher.hash("pilotmon-timing-equaliser")

MIN_PASSWORD_LENGTH = 10
# NIST SP 800-63B §5.1.1.2: no composition rules, but refuse passwords that are common, expected
# or compromised: dictionary words, repeats and sequences, and words of the context (the
# username, the person's name, the service). zxcvbn does exactly that check, with the frequency
# lists it ships (the 30 000 most common passwords, English words, names, keyboard patterns);
# a score of 3 means it would take more than 10^8 guesses.
MIN_PASSWORD_SCORE = 3
CONTEXT_WORDS = ("pilotmon", "pilot monitor", "pilotmonitor", "monitor")
# zxcvbn refuses longer input (its matching is quadratic); the first 72 characters decide.
_SCORED_LENGTH = 72


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


def password_problem(password: str, *, context: Sequence[str] = ()) -> Issue | None:
    """Why a new password is unacceptable, or None. ``context``: the username, the person's
    name and e-mail, which a password must not be made of."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return Issue(
            "password", ErrorCode.TOO_SHORT, f"must be at least {MIN_PASSWORD_LENGTH} characters"
        )
    if len(password) > 256:
        return Issue("password", ErrorCode.TOO_LONG, "must be at most 256 characters")
    words = [w for w in (*context, *CONTEXT_WORDS) if w]
    found = zxcvbn(password[:_SCORED_LENGTH], user_inputs=words)
    if found["score"] >= MIN_PASSWORD_SCORE:
        return None
    warning = str(found.get("feedback", {}).get("warning") or "").rstrip(".")
    because = f" ({warning[:1].lower()}{warning[1:]})" if warning else ""
    return Issue(
        "password",
        ErrorCode.WEAK_PASSWORD,
        f"too easy to guess{because}: use a few unrelated words or a longer phrase, "
        "not your username or a common password",
    )
