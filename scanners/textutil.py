"""Small helpers shared by the rule tables."""

from __future__ import annotations


def words(text: str) -> frozenset[str]:
    """A set from whitespace-separated words: keeps long rule tables readable and diffable."""
    return frozenset(text.split())
