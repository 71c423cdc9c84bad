"""Fixtures of the demo's tests."""

from __future__ import annotations

import pytest
from pwdlib.hashers.argon2 import Argon2Hasher

import server.accounts.service
import server.demo.load


@pytest.fixture(autouse=True)
def quick_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Real argon2 hashes with small parameters: ~40 users per load stay fast, and the stored
    hashes are still checked by the real ``verify_password``."""
    hasher = Argon2Hasher(time_cost=1, memory_cost=1024, parallelism=1)
    monkeypatch.setattr(server.demo.load, "hash_password", hasher.hash)
    monkeypatch.setattr(server.accounts.service, "hash_password", hasher.hash)
