"""Files that exhaust a scanner instead of fooling it (issue #11): small downloads that inflate to
hundreds of MiB of scratch space, spread so that no single stream crosses a per-stream limit.

Every member is highly compressible *text*, which a scanner that finishes passes as clean: the only
correct verdict is a decompression-bomb finding reached before the scratch space fills.
"""

# ruff: noqa: PLC0415 - NumPy is imported only by the builder that needs it
from __future__ import annotations

import bz2
import gzip
import io
import lzma
import zipfile
from collections.abc import Callable
from pathlib import Path

from tests.scanners.malicious_containers import _torch_zip_members
from tests.scanners.malicious_registry import technique, write_zip

MIB = 1 << 20
BOMB = "archive.decompression-bomb"
_TEXT_MIB = b"All work and no play makes Jack a dull boy.\n" * (MIB // 44) + b"\n" * (MIB % 44)


def text_zip(members: int, *, per_member: int = 1) -> bytes:
    """A deflated zip of ``members`` text files of ``per_member`` MiB each (about 1 KiB each on disk)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for index in range(members):
            archive.writestr(f"notes/{index:04d}.txt", _TEXT_MIB * per_member)
    return buffer.getvalue()


def many_members(out: Path) -> None:
    out.write_bytes(text_zip(400))  # 1.3 MB that held 400 MiB of temporary files until the scan ended


def nested_zips(out: Path) -> None:
    write_zip(out, [(f"shard{i}.zip", text_zip(50)) for i in range(8)], compress=zipfile.ZIP_DEFLATED)


def zip_in_torch_zip(out: Path) -> None:
    write_zip(out, [*_torch_zip_members(), ("archive/extra/bundle.zip", text_zip(300))])


def npz_many_members(out: Path) -> None:
    import numpy as np

    arrays = {f"layer{i}": np.zeros(MIB // 8) for i in range(300)}
    np.savez_compressed(out, **arrays)  # type: ignore[arg-type]


def _stream(compress: Callable[[bytes], bytes]) -> Callable[[Path], None]:
    def build(out: Path) -> None:
        # 60 MiB: under the 64 MiB a single stream could inflate before its ratio was checked. Long runs
        # of one letter, because bzip2 takes seconds to sort the sentences of _TEXT_MIB.
        out.write_bytes(compress((b"A" * 1023 + b"\n") * 60 * 1024))

    return build


BUILDERS: dict[str, tuple[str, str, Callable[[Path], None]]] = {
    "bomb_many_members": ("notes.zip", "400 deflated 1 MiB text members in a 1.3 MB zip", many_members),
    "bomb_nested_zips": ("shards.zip", "8 zips of 50 x 1 MiB text members, deflated again", nested_zips),
    "bomb_zip_in_torch_zip": ("model.pt", "a 300 MiB zip bomb added to a torch zip", zip_in_torch_zip),
    "bomb_npz_many_members": ("arrays.npz", "savez_compressed of 300 zero arrays of 1 MiB", npz_many_members),
    "bomb_gzip_stream": ("notes.txt.gz", "60 MiB of text in a 130 KB gzip stream", _stream(gzip.compress)),
    "bomb_bz2_stream": ("notes.txt.bz2", "60 MiB of text in 99 bytes of bzip2", _stream(bz2.compress)),
    "bomb_xz_stream": ("notes.txt.xz", "60 MiB of text in a 9 KB xz stream", _stream(lzma.compress)),
}  # fmt: skip


def _register(name: str, filename: str, what: str, build: Callable[[Path], None]) -> None:
    @technique(name, filename, what, "issue #11; zip bombs (Fifield, WOOT 2019); CWE-409", BOMB)
    def _build(out: Path, marker: Path) -> None:
        build(out)


for _name, (_filename, _what, _build) in BUILDERS.items():
    _register(_name, _filename, _what, _build)
