"""The unverified prefixes every replica reads before it answers a Range request."""

from __future__ import annotations

from storage.db import Database
from storage.unverified_prefixes import UnverifiedPrefixStore


async def test_the_longest_prefix_handed_out_is_kept(database: Database) -> None:
    store = UnverifiedPrefixStore(database)
    assert await store.handed_out("a" * 64) == 0
    await store.record("a" * 64, 6 << 20)
    await store.record("a" * 64, 4 << 20)  # a shorter one later (another replica's readers) changes nothing
    assert await store.handed_out("a" * 64) == 6 << 20
    await store.record("a" * 64, 5 << 30)  # past 32 bits: a large file's prefix
    assert await store.handed_out("a" * 64) == 5 << 30
    assert await store.handed_out("git-sha1:" + "b" * 40) == 0
