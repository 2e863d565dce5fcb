"""PyTorch containers: the zip checkpoint (any root folder name, every member), TorchScript archives
(whose ``code/`` folder is compiled Python) and the legacy tar layout. The legacy magic-number format is
a stream of pickles and is read by ``pickled``."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .blobs import Blob
from .formats import FileFormat, sniff
from .limits import MalformedInput
from .pickle_ops import OpcodeStream
from .pickle_values import GlobalRef
from .pickled import read_one, read_pickles, report_analysis
from .rules import TORCH_LEGACY_TAR, TORCHSCRIPT_CODE, TORCHSCRIPT_SUSPICIOUS
from .zipread import ZipDirectory, ZipMember

if TYPE_CHECKING:
    from .context import ScanContext

OpenMember = Callable[[Blob, ZipMember, "ScanContext"], Blob | None]

_STORAGE_ELEMENT_SIZES = {
    "DoubleStorage": 8, "FloatStorage": 4, "HalfStorage": 2, "BFloat16Storage": 2, "LongStorage": 8,
    "IntStorage": 4, "ShortStorage": 2, "CharStorage": 1, "ByteStorage": 1, "BoolStorage": 1,
    "ComplexFloatStorage": 8, "ComplexDoubleStorage": 16, "QInt8Storage": 1, "QUInt8Storage": 1,
    "QInt32Storage": 4, "QUInt4x2Storage": 1, "QUInt2x4Storage": 1, "UntypedStorage": 1,
}  # fmt: skip
_MAX_CODE_BYTES = 4 * 1024 * 1024
_RAW_STORAGE = (FileFormat.UNKNOWN, FileFormat.PASSIVE_DATA, FileFormat.TEXT)
_SUSPICIOUS_CODE = re.compile(
    r"__import__|\bimport\s+os\b|\bos\.|subprocess|builtins|\beval\s*\(|\bexec\s*\(|\bopen\s*\(|"
    r"torch\.hub|torch\.load|torch\.save|\bsystem\s*\(|popen|torch\.ops\.(?!aten\b|prim\b|"
    r"quantized\b|_caffe2\b|profiler\b|_quantized\b)\w+"
)


@dataclass(frozen=True, slots=True)
class TorchLayout:
    root: str  # "archive/" or whatever the writer named the folder; torch.load accepts any
    torchscript: bool


def zip_layout(members: tuple[ZipMember, ...]) -> TorchLayout | None:
    files = [m.name for m in members if not m.is_dir]
    if not files:
        return None
    first_root = files[0].split("/", 1)[0] + "/" if "/" in files[0] else ""
    names = set(files)
    has_data = f"{first_root}data.pkl" in names
    has_script = f"{first_root}constants.pkl" in names or any(
        n.startswith(f"{first_root}code/") for n in names
    )
    if has_data or has_script:
        return TorchLayout(first_root, has_script)
    roots = {n[: -len("data.pkl")] for n in names if n.endswith("data.pkl") and n.count("/") <= 1}
    if roots:
        return TorchLayout(sorted(roots)[0], False)
    return None


def scan_torch_zip(
    blob: Blob, directory: ZipDirectory, layout: TorchLayout, ctx: ScanContext, *, open_member: OpenMember
) -> str:
    root = layout.root
    storage_keys: set[str] = set()
    scanned: set[int] = set()
    for member in directory.members:
        if member.name.endswith(".pkl") and member.name.count("/") <= 1:
            content = open_member(blob, member, ctx)
            scanned.add(member.header_offset)
            if content is None:
                continue
            analyses, _kind = read_pickles(content, ctx)
            for analysis in analyses:
                report_analysis(analysis, content, ctx)
                storage_keys.update(_storage_keys(analysis.persistent_pids))
            ctx.release(content)
    reported_code = False
    for member in directory.members:
        ctx.deadline.check()
        if member.is_dir or member.header_offset in scanned:
            continue
        name = member.name
        if name.startswith(f"{root}data/") and name[len(root) + 5 :] in storage_keys:
            continue  # raw tensor bytes, addressed by key from the pickle; never unpickled
        content = open_member(blob, member, ctx)
        if content is None:
            continue
        if name.startswith(f"{root}code/") and name.endswith(".py"):
            if not reported_code:
                ctx.add(
                    TORCHSCRIPT_CODE.finding(
                        "TorchScript code is compiled and run by torch.jit.load", location=blob.label
                    )
                )
                reported_code = True
            _check_torchscript_code(content, ctx)
        elif name.startswith(f"{root}data/") and sniff(content, None, ctx.limits)[0] in _RAW_STORAGE:
            pass  # unreferenced raw storage: nothing loads it as code
        else:
            ctx.scan_nested(content, name_hint=name)
        ctx.release(content)
    return "torchscript" if layout.torchscript else "pytorch-zip"


def _storage_keys(pids: list[object]) -> set[str]:
    keys: set[str] = set()
    for pid in pids:
        # ('storage', storage_type, key, location, numel) as torch.save writes it
        if isinstance(pid, tuple) and len(pid) >= 3 and pid[0] == "storage" and isinstance(pid[2], str):
            keys.add(pid[2])
    return keys


def _check_torchscript_code(content: Blob, ctx: ScanContext) -> None:
    text = content.read_at(0, _MAX_CODE_BYTES).decode("utf-8", "replace")
    for match in _SUSPICIOUS_CODE.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        ctx.add(
            TORCHSCRIPT_SUSPICIOUS.finding(
                "TorchScript code references an operation outside tensor math",
                location=f"{content.label}:{line}",
                evidence=text.splitlines()[line - 1].strip()[:200],
            )
        )


# --- legacy tar format ----------------------------------------------------------------------------
def is_legacy_tar(names: set[str]) -> bool:
    return {"storages", "tensors", "pickle"} <= names


def scan_legacy_tar_member(name: str, content: Blob, ctx: ScanContext) -> bool:
    """Walk the 'storages' and 'tensors' members record by record (pickles between raw bytes).
    Returns False for members the generic scan should handle."""
    if name not in ("storages", "tensors"):
        return False
    ctx.add(
        TORCH_LEGACY_TAR.finding(
            "legacy tar-format checkpoint (pickles in several members)", location=content.label
        )
    )
    with content.open() as raw:
        stream = OpcodeStream(raw, size=content.size, inline_limit=ctx.limits.max_inline_bytes)
        count = read_one(stream, ctx, content).result
        if not isinstance(count, int) or count < 0:
            raise MalformedInput(f"{name}: record count is not a number")
        for _ in range(count):
            ctx.deadline.check()
            args = read_one(stream, ctx, content).result
            if name == "storages":
                stream.skip(stream.u64() * _element_size(args))
            else:
                ndim = stream.i32()
                if not 0 <= ndim <= 64:
                    raise MalformedInput(f"tensors: bad dimension count {ndim}")
                stream.skip(4 + 16 * ndim + 8)
        if name == "storages" and stream.remaining > 0:
            read_one(stream, ctx, content)  # storage views
    return True


def _element_size(args: object) -> int:
    storage_type = args[2] if isinstance(args, tuple) and len(args) == 3 else None
    if isinstance(storage_type, GlobalRef) and storage_type.name in _STORAGE_ELEMENT_SIZES:
        return _STORAGE_ELEMENT_SIZES[storage_type.name]
    raise MalformedInput("storages: record does not name a known storage type")
