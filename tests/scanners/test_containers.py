"""Zip, tar, compression and safetensors edge cases."""

from __future__ import annotations

import gzip
import io
import json
import lzma
import struct
import tarfile
import zipfile
from pathlib import Path

import pytest

from scanners import ScanStatus
from scanners.runner import scan_primary
from tests.scanners import pickle_asm as asm

EVIL = asm.program(asm.call(asm.stack_global("os", "system"), asm.text("id")))


def _zip(members: dict[str, bytes], method: int = zipfile.ZIP_STORED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


@pytest.mark.parametrize(
    "method", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA]
)
def test_every_zip_method_is_read(tmp_path: Path, method: int) -> None:
    path = tmp_path / "a.zip"
    path.write_bytes(_zip({"dir/evil.pkl": EVIL}, method))
    report = scan_primary(path)
    assert report.status is ScanStatus.FLAGGED
    assert any(f.rule_id == "pickle.dangerous-global" for f in report.findings)


def test_prepended_data_is_reported_and_members_still_scanned(tmp_path: Path) -> None:
    path = tmp_path / "p.zip"
    path.write_bytes(b"#!/bin/sh\nexit 0\n" + _zip({"evil.pkl": EVIL}))
    report = scan_primary(path, name_hint="p.zip")
    rules = {f.rule_id for f in report.findings}
    assert "pickle.dangerous-global" in rules


def test_nested_zip_in_gzip_in_tar(tmp_path: Path) -> None:
    inner = gzip.compress(_zip({"w.pkl": EVIL}))
    path = tmp_path / "t.tar"
    with tarfile.open(path, "w") as archive:
        info = tarfile.TarInfo("bundle.zip.gz")
        info.size = len(inner)
        archive.addfile(info, io.BytesIO(inner))
    assert scan_primary(path).status is ScanStatus.FLAGGED


def test_unreadable_compression_method_is_a_finding(tmp_path: Path) -> None:
    data = bytearray(_zip({"a.pkl": EVIL}))
    for signature, offset in ((b"PK\x03\x04", 8), (b"PK\x01\x02", 10)):
        pos = data.find(signature)
        struct.pack_into("<H", data, pos + offset, 9)  # deflate64
    path = tmp_path / "d64.zip"
    path.write_bytes(bytes(data))
    report = scan_primary(path)
    assert report.status is ScanStatus.FLAGGED
    assert "archive.unsupported-compression" in {f.rule_id for f in report.findings}


def test_truncated_gzip_still_scans_what_inflated(tmp_path: Path) -> None:
    data = gzip.compress(EVIL + b"\x00" * 100_000)
    path = tmp_path / "t.gz"
    path.write_bytes(data[: len(data) // 2])
    report = scan_primary(path)
    assert report.status is ScanStatus.FLAGGED


def test_lzma_alone_wrapper(tmp_path: Path) -> None:
    path = tmp_path / "x.lzma"
    path.write_bytes(lzma.compress(EVIL, format=lzma.FORMAT_ALONE))
    assert scan_primary(path).status is ScanStatus.FLAGGED


def test_corrupt_zip_is_an_error_not_clean(tmp_path: Path) -> None:
    path = tmp_path / "c.zip"
    path.write_bytes(b"PK\x03\x04" + b"\x00" * 100)
    report = scan_primary(path)
    assert report.status is ScanStatus.ERROR
    assert "end-of-central-directory" in report.message


def test_unknown_binary_is_unsupported(tmp_path: Path) -> None:
    path = tmp_path / "blob"
    path.write_bytes(bytes(range(256)) * 8)
    assert scan_primary(path).status is ScanStatus.UNSUPPORTED


def test_padded_safetensors_header_is_clean(tmp_path: Path) -> None:
    header = json.dumps({"a": {"dtype": "F4", "shape": [4], "data_offsets": [0, 2]}}).encode()
    header += b" " * (-len(header) % 8)
    path = tmp_path / "x.safetensors"
    path.write_bytes(struct.pack("<Q", len(header)) + header + b"\x00\x00")
    report = scan_primary(path)
    assert report.status is ScanStatus.CLEAN, report.findings


def test_big_json_is_searched_without_parsing(tmp_path: Path) -> None:
    path = tmp_path / "tokenizer_config.json"
    filler = {f"k{i}": "v" * 100 for i in range(200_000)}
    document = {**filler, "chat_template": "{{ ''.__class__ }}"}
    path.write_text(json.dumps(document))
    assert path.stat().st_size > 16 * 1024 * 1024
    report = scan_primary(path)
    assert "template.sandbox-escape" in {f.rule_id for f in report.findings}


def test_a_zip_appended_to_another_format_is_scanned(tmp_path: Path) -> None:
    # Found by the fuzz properties: an .npy header up front, a zip at the end. numpy.load reads the
    # array; zipfile-based loaders (Keras, np.load of .npz by name) open the archive from its end.
    import numpy as np  # noqa: PLC0415

    buffer = io.BytesIO()
    np.save(buffer, np.zeros(4, dtype=np.float32))
    path = tmp_path / "model.keras"
    path.write_bytes(buffer.getvalue() + _zip({"config.pkl": EVIL}))
    report = scan_primary(path, name_hint="model.keras")
    rules = {f.rule_id for f in report.findings}
    assert {"archive.polyglot", "pickle.dangerous-global"} <= rules


def test_a_central_directory_offset_that_lies_is_corrected_like_zipfile_does(tmp_path: Path) -> None:
    # Found by the fuzz properties: zipfile finds the directory right before the end record and shifts
    # every offset by the difference, so offsets inflated by the same amount still open.
    data = bytearray(_zip({"evil.pkl": EVIL}))
    central = data.find(b"PK\x01\x02")
    end = data.find(b"PK\x05\x06")
    struct.pack_into("<I", data, central + 42, 1000)  # the member's local header offset (was 0)
    struct.pack_into("<I", data, end + 16, central + 1000)  # the central directory's offset
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as archive:
        assert archive.read("evil.pkl") == EVIL  # the consumer opens it
    path = tmp_path / "shifted.zip"
    path.write_bytes(b"PAR1" + bytes(data))
    report = scan_primary(path)
    assert "pickle.dangerous-global" in {f.rule_id for f in report.findings}


def test_an_npy_version_numpy_refuses_is_not_clean(tmp_path: Path) -> None:
    # Found by bench/fuzz_scanners.py: version 1.1 was CLEAN although numpy.load refuses it.
    import numpy as np  # noqa: PLC0415

    buffer = io.BytesIO()
    np.save(buffer, np.arange(4.0))
    data = bytearray(buffer.getvalue())
    data[7] = 1
    path = tmp_path / "a.npy"
    path.write_bytes(bytes(data))
    assert scan_primary(path).status is not ScanStatus.CLEAN
