"""Model files for gate tests, built byte by byte. Harmless if ever executed: the malicious one only
creates an empty marker file, and tests assert the marker never appears."""

from __future__ import annotations

import io
import struct
import zipfile
from pathlib import Path


def _unicode(text: str) -> bytes:
    data = text.encode()
    return b"X" + struct.pack("<I", len(data)) + data


def marker_pickle(marker: Path) -> bytes:
    """Protocol 2: `builtins.open(marker, "w")` on load (the classic REDUCE code-execution gadget)."""
    return b"\x80\x02cbuiltins\nopen\n(" + _unicode(str(marker)) + _unicode("w") + b"tR."


def unusual_but_benign_pickle() -> bytes:
    """A training-state pickle that calls an unknown third-party helper (`acme_tools.configs.build_config`).

    Not an attack, but nothing a scanner can vouch for: it must be quarantined until a human waives it.
    Loading it could only raise ImportError (the module does not exist).
    """
    return (
        b"\x80\x02}q\x00("
        + _unicode("step")
        + b"K\x03"
        + _unicode("config")
        + b"cacme_tools.configs\nbuild_config\n("
        + _unicode("tiny")
        + b"tRu."
    )


def plain_state_pickle() -> bytes:
    """A clean pickle of plain data (a dict of numbers and strings)."""
    return b"\x80\x02}q\x00(" + _unicode("step") + b"K\x03" + _unicode("lr") + _unicode("0.1") + b"u."


def torch_zip(data_pkl: bytes) -> bytes:
    """The PyTorch zip checkpoint layout around a pickle (as torch.save writes it)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in (
            ("archive/data.pkl", data_pkl),
            ("archive/byteorder", b"little"),
            ("archive/version", b"3\n"),
        ):
            # A fixed timestamp keeps the bytes (and so the sha256) the same on every call.
            archive.writestr(zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0)), data)
    return buffer.getvalue()
