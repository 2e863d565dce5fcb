"""The top-level members of a JSON document, read in bounded memory exactly as ``json.loads`` reads them.

Hugging Face loaders (transformers, diffusers, sentence-transformers) read configs with Python's ``json``
module, so that module is the judge: keys and the values we care about are decoded by ``json.loads``
itself (escapes such as ``"auto\\u005fmap"``, NaN and Infinity, lone surrogates), and a key that appears
twice is reported every time it appears (``json.loads`` keeps the last, other readers the first).

Only member boundaries are found here, with a small lexer that counts brackets outside strings; that is
exact for every document ``json.loads`` accepts. The document streams through a window of decoded text,
so a 10 GB ``tokenizer.json`` costs time, not memory. (ijson's yajl backend was considered and rejected:
it refuses the NaN and Infinity that ``json.dumps`` writes and ``json.loads`` reads, so a key placed after
a NaN would be invisible to it while transformers still acts on it.)
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from .limits import Deadline

_WHITESPACE = re.compile(r"[ \t\n\r]*")
# Everything a container holds up to its next bracket or unfinished string: whole strings and runs of
# non-structural characters, matched in C so that a vocabulary of a million entries is one call.
_RUN = re.compile(r'(?:[^"\[\]{}]+|"[^"\\]*(?:\\.[^"\\]*)*")*', re.DOTALL)
_STRING_REST = re.compile(r'[^"\\]*(?:\\.[^"\\]*)*', re.DOTALL)
_SCALAR = re.compile(r'[^,\]}\s"\[{]*')
_MAX_KEY_CHARS = 1 << 20  # a longer key is not one a loader acts on; it is skipped undecoded


@dataclass(frozen=True, slots=True)
class Oversized:
    """A wanted value larger than the decoding limit (``chars`` is how far it was read)."""

    chars: int


@dataclass(frozen=True, slots=True)
class Undecodable:
    """A wanted value ``json.loads`` rejects (the loader would fail on the whole document)."""

    error: str


@dataclass
class JsonMembers:
    """What :func:`read_members` found. ``valid`` is False when the document is not the single JSON
    value ``json.loads`` would accept (then loaders fail on it, but what was seen before still counts)."""

    is_object: bool = False
    valid: bool = True
    members: list[tuple[str, Any]] = field(default_factory=list)  # wanted keys in document order
    counts: dict[str, int] = field(default_factory=dict)  # occurrences of each wanted key


class _Invalid(Exception):
    """The text stops being JSON here."""


class _Window:
    """Decoded text of the document, one chunk at a time; ``mark`` pins text that is being captured."""

    def __init__(self, chunks: Iterator[bytes], deadline: Deadline, capture_limit: int) -> None:
        self._chunks = chunks
        self._deadline = deadline
        # utf-8-sig drops a BOM; undecodable bytes become lone surrogates instead of stopping the read
        # (the loader fails on them, and reading on can only add findings).
        self._decoder = codecs.getincrementaldecoder("utf-8-sig")(errors="surrogateescape")
        self._capture_limit = capture_limit
        self._ended = False
        self.buf = ""
        self.pos = 0
        self.mark: int | None = None
        self.overflow = 0

    def more(self) -> bool:
        """Append the next chunk of text, dropping what was consumed; False at the end of the data."""
        while not self._ended:
            self._deadline.check()
            chunk = next(self._chunks, None)
            if chunk is None:
                self._ended = True
                text = self._decoder.decode(b"", final=True)
            else:
                text = self._decoder.decode(chunk)
            if self.mark is not None and self.pos - self.mark > self._capture_limit:
                self.overflow = self.pos - self.mark
                self.mark = None  # too large to keep: the value is skipped, not captured
            keep = self.pos if self.mark is None else self.mark
            self.buf = self.buf[keep:] + text
            self.pos -= keep
            if self.mark is not None:
                self.mark = 0
            if text:
                return True
        return False

    def start_capture(self) -> None:
        self.mark = self.pos
        self.overflow = 0

    def end_capture(self) -> str | None:
        """The text since :meth:`start_capture`, or None when it outgrew the capture limit."""
        if self.mark is None:
            return None
        text = self.buf[self.mark : self.pos]
        self.mark = None
        return text

    def peek(self) -> str:
        """The character at ``pos`` ("" at the end of the data)."""
        while self.pos >= len(self.buf):
            if not self.more():
                return ""
        return self.buf[self.pos]

    def skip_whitespace(self) -> None:
        while True:
            self.pos = _WHITESPACE.match(self.buf, self.pos).end()  # type: ignore[union-attr]
            if self.pos < len(self.buf) or not self.more():
                return

    def expect(self, char: str) -> None:
        if self.peek() != char:
            raise _Invalid(f"expected {char!r}")
        self.pos += 1


def read_members(
    chunks: Iterator[bytes], *, wanted: frozenset[str], max_value_chars: int, deadline: Deadline
) -> JsonMembers:
    """Stream a JSON document and return its wanted top-level members, each decoded by ``json.loads``
    (or :class:`Oversized` / :class:`Undecodable`). Raises ``LimitExceeded`` when the deadline passes."""
    window = _Window(chunks, deadline, max_value_chars)
    found = JsonMembers()
    try:
        _read_document(window, wanted, found)
    except _Invalid:
        found.valid = False
    return found


def _read_document(window: _Window, wanted: frozenset[str], found: JsonMembers) -> None:
    window.skip_whitespace()
    if window.peek() == "{":
        found.is_object = True
        _read_object(window, wanted, found)
    else:
        _skip_value(window)
    window.skip_whitespace()
    if window.peek():
        raise _Invalid("extra data after the document")


def _read_object(window: _Window, wanted: frozenset[str], found: JsonMembers) -> None:
    window.expect("{")
    window.skip_whitespace()
    if window.peek() == "}":
        window.pos += 1
        return
    while True:
        key = _read_key(window)
        window.skip_whitespace()
        window.expect(":")
        window.skip_whitespace()
        if key in wanted:
            found.counts[key] = found.counts.get(key, 0) + 1
            found.members.append((key, _capture_value(window)))
        else:
            _skip_value(window)
        window.skip_whitespace()
        separator = window.peek()
        window.pos += 1
        if separator == "}":
            return
        if separator != ",":
            raise _Invalid("expected ',' or '}'")
        window.skip_whitespace()


def _read_key(window: _Window) -> str | None:
    if window.peek() != '"':
        raise _Invalid("expected a key")
    value = _capture_value(window)
    return value if isinstance(value, str) and len(value) <= _MAX_KEY_CHARS else None


def _capture_value(window: _Window) -> Any:
    window.start_capture()
    _skip_value(window)
    raw = window.end_capture()
    if raw is None:
        return Oversized(window.overflow)
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as exc:
        return Undecodable(str(exc)[:200])


def _skip_value(window: _Window) -> None:
    first = window.peek()
    if first == '"':
        window.pos += 1
        _skip_string_rest(window)
    elif first in ("[", "{"):
        _skip_container(window)
    else:
        consumed = 0  # a number or literal; json.loads judges its spelling when it is captured
        while True:
            end = _SCALAR.match(window.buf, window.pos).end()  # type: ignore[union-attr]
            consumed += end - window.pos
            window.pos = end
            if end < len(window.buf) or not window.more():
                break
        if not consumed:
            raise _Invalid("expected a value")


def _skip_string_rest(window: _Window) -> None:
    """From just after an opening quote to just after the closing one."""
    while True:
        end = _STRING_REST.match(window.buf, window.pos).end()  # type: ignore[union-attr]
        window.pos = end
        if end < len(window.buf) and window.buf[end] == '"':
            window.pos = end + 1
            return
        # The buffer ends inside the string (perhaps right after a backslash): read on.
        if not window.more():
            raise _Invalid("unterminated string")


def _skip_container(window: _Window) -> None:
    depth = 0
    while True:
        window.pos = _RUN.match(window.buf, window.pos).end()  # type: ignore[union-attr]
        if window.pos >= len(window.buf):
            if not window.more():
                raise _Invalid("unterminated array or object")
            continue
        char = window.buf[window.pos]
        window.pos += 1
        if char == '"':
            _skip_string_rest(window)
        elif char in "[{":
            depth += 1
        else:
            depth -= 1
            if depth == 0:
                return
            if depth < 0:
                raise _Invalid("unbalanced brackets")
