"""Photo chunks follow the link (docs/protocol.md#attachments): small at first, about
``TARGET_SECONDS`` of the measured throughput after that, at most 1 MiB, halved by a failure."""

from __future__ import annotations

import pytest

from sync.attachments import (
    FIRST_CHUNK_BYTES,
    MIN_CHUNK_BYTES,
    TARGET_SECONDS,
    ChunkSizer,
)
from sync.protocol import MAX_CHUNK_BYTES


def test_the_first_chunk_is_small() -> None:
    assert 16 * 1024 <= ChunkSizer().size == FIRST_CHUNK_BYTES <= 32 * 1024


@pytest.mark.parametrize(
    ("rate", "expected"),
    [
        (10_000, int(10_000 * TARGET_SECONDS)),  # 2G: about 120 KB
        (1_000, MIN_CHUNK_BYTES),  # far slower than 2G: never below the floor
        (10_000_000, MAX_CHUNK_BYTES),  # a fast link: the protocol's 1 MiB
    ],
)
def test_chunks_settle_on_what_the_link_carries_in_the_target_time(
    rate: float, expected: int
) -> None:
    sizer = ChunkSizer()
    for _ in range(20):
        sizer.sent(sizer.size, sizer.size / rate)
    assert sizer.size == expected


def test_growth_is_at_most_twofold_per_chunk() -> None:
    sizer = ChunkSizer()
    sizer.sent(sizer.size, 0.001)  # a blazing first chunk
    assert sizer.size == 2 * FIRST_CHUNK_BYTES


def test_a_slower_link_shrinks_the_next_chunk_at_once() -> None:
    sizer = ChunkSizer(first=MAX_CHUNK_BYTES)
    sizer.sent(MAX_CHUNK_BYTES, MAX_CHUNK_BYTES / 20_000)
    sizer.sent(MAX_CHUNK_BYTES, MAX_CHUNK_BYTES / 1_000)  # the link slowed to 1 KB/s
    assert sizer.size < MAX_CHUNK_BYTES / 4


def test_a_failure_halves_the_chunk_down_to_the_floor() -> None:
    sizer = ChunkSizer(first=64 * 1024)
    sizer.failed()
    assert sizer.size == 32 * 1024
    for _ in range(5):
        sizer.failed()
    assert sizer.size == MIN_CHUNK_BYTES


def test_a_server_limit_caps_every_later_chunk() -> None:
    sizer = ChunkSizer(first=256 * 1024)
    sizer.limit(100_000)
    sizer.sent(100_000, 0.01)
    assert sizer.size == 100_000


def test_a_photos_small_last_piece_does_not_shrink_the_chunks() -> None:
    sizer = ChunkSizer()
    for _ in range(10):
        sizer.sent(sizer.size, sizer.size / 10_000)
    settled = sizer.size
    sizer.sent(500, 0.55)  # 500 bytes in one round trip: the link's rate is not in it
    assert sizer.size == settled
