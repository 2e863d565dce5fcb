"""Characters in file paths that a reader cannot see, or that reorder what they do see.

A name like `model\u202egnp.py` shows as `modelyp.png` wherever it is rendered as-is (a bidi override,
"Trojan Source", CVE-2021-42574); zero-width and tag characters hide text, controls break lines and
terminals. hubgate refuses such paths in requests and shows them escaped (`<U+202E>`) where upstream
lists them. Pure: no I/O.
"""

from __future__ import annotations

import unicodedata

# Letters that render as nothing (Hangul fillers, a braille blank) although they are not format characters.
_BLANK_LETTERS = frozenset("\u115f\u1160\u2800\u3164\uffa0")
# Cc: C0 and C1 controls and DEL. Cf: format characters, among them the bidi embeddings, overrides and
# isolates (U+202A-U+202E, U+2066-U+2069), the marks U+200E/F and U+061C, zero-width characters,
# U+FEFF and the tag characters. Zl/Zp: line and paragraph separators. Cs: lone surrogates.
_HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})


def is_hidden(char: str) -> bool:
    return char in _BLANK_LETTERS or unicodedata.category(char) in _HIDDEN_CATEGORIES


def hidden_characters(text: str) -> tuple[str, ...]:
    """The code points (`U+202E`) of every hidden character in `text`, in order, without repeats."""
    return tuple(dict.fromkeys(_code_point(char) for char in text if is_hidden(char)))


def visible(text: str) -> str:
    """`text` with every hidden character written out as `<U+XXXX>`."""
    return "".join(f"<{_code_point(char)}>" if is_hidden(char) else char for char in text)


def _code_point(char: str) -> str:
    return f"U+{ord(char):04X}"
