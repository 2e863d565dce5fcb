"""Resource limits for a scan, the deadline that enforces the time limit, and the scanner exceptions.

Every parser checks these; exceeding one raises :class:`LimitExceeded`, which the engine turns into a
finding (fail closed), never into a clean verdict.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

KIB = 1024
MIB = 1024 * KIB
GIB = 1024 * MIB


@dataclass(frozen=True, slots=True)
class Limits:
    """Upper bounds for one ``scan_file`` call. The defaults suit model repositories on the Hub."""

    time_s: float = 120.0
    max_depth: int = 6  # nested containers: zip in gzip in tar ...
    max_members: int = 100_000  # per archive
    max_total_uncompressed: int = 64 * GIB  # per archive, as the headers declare
    max_decompressed: int = 8 * GIB  # bytes actually inflated from one compressed stream
    # Every byte inflated in one scan (all members, all nesting levels) counts against these two, from
    # the first byte on: at most max_scan_inflated in all, and at most max_ratio x the scanned file's
    # size plus ratio_floor. max_ratio and ratio_floor also bound each single stream.
    max_scan_inflated: int = 16 * GIB
    max_ratio: float = 200.0
    ratio_floor: int = 16 * MIB
    max_decoder_memory: int = 128 * MIB  # what an xz/LZMA header may make the decompressor allocate
    max_pickle_ops: int = 50_000_000
    max_pickle_stack: int = 1_000_000
    max_pickle_memo: int = 1_000_000
    max_inline_bytes: int = 8 * MIB  # pickle string/bytes kept in memory for nested analysis
    max_stacked_pickles: int = 64
    max_json_bytes: int = 8 * MIB  # JSON inside other formats (Keras configs) parsed whole
    max_json_value_bytes: int = 16 * MIB  # a config value that can lead to code, decoded whole
    max_safetensors_header: int = 16 * MIB
    max_template_bytes: int = 1 * MIB
    max_gguf_kv: int = 100_000
    max_gguf_tensors: int = 1_000_000
    max_gguf_string: int = 16 * MIB
    max_gguf_array: int = 16_000_000
    max_proto_depth: int = 64
    max_proto_messages: int = 5_000_000
    max_spool_bytes: int = 8 * GIB  # nested content copied to a temporary file for random access


DEFAULT_LIMITS = Limits()


class ScanError(Exception):
    """Base of the exceptions scanners raise on purpose."""


class MalformedInput(ScanError):
    """The content is not valid for the format it claims to be."""


class LimitExceeded(ScanError):
    """A configured limit was hit; ``limit`` names it so the finding can say which."""

    def __init__(self, limit: str, detail: str) -> None:
        super().__init__(f"limit {limit} exceeded: {detail}")
        self.limit = limit
        self.detail = detail


class Deadline:
    """A monotonic time budget shared by every parser in one scan."""

    __slots__ = ("_budget", "_expires")

    def __init__(self, seconds: float) -> None:
        self._budget = seconds
        self._expires = time.monotonic() + seconds

    def check(self) -> None:
        if time.monotonic() > self._expires:
            raise LimitExceeded("time_s", f"scan took longer than {self._budget:g} s")
