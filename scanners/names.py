"""What a file's name makes of its bytes: the only part of a name the scanners look at.

Content decides the format wherever the bytes say what they are. Some formats carry no magic at all, and
there the name is the consumer's only cue: `modeling_x.py` is imported by `trust_remote_code`,
`chat_template.jinja` is rendered, `run.sh` is executed, `x.pb` is parsed as a TensorFlow graph,
`x.msgpack` is read as raw tensors. The same bytes under another name mean something else, so a verdict
holds only for the *interpretation* it was made under: `interpretation(path)` names it, and two paths with
the same interpretation always get the same scan of the same bytes.
"""

from __future__ import annotations

from pathlib import PurePosixPath

# Names whose content has no magic but holds only numbers, used when nothing else matched.
RAW_DATA_SUFFIXES = (".msgpack", ".index", ".ot", ".mlmodel", ".pdiparams", ".caffemodel")
RAW_DATA_PATTERNS = ("data-0", "openvino_model.bin", ".tflite", "tokenizer.model", "spiece.model", ".spm")
TEXT_SUFFIX_KINDS = {
    ".py": "python", ".pyw": "python", ".jinja": "jinja", ".j2": "jinja",
    ".sh": "script", ".bash": "script", ".bat": "script", ".cmd": "script", ".ps1": "script",
}  # fmt: skip
COMPRESSION_SUFFIXES = frozenset({".gz", ".gzip", ".bz2", ".xz", ".lzma", ".z", ".zlib"})
ANY = "any"


def name_kind(name_hint: str | None) -> str:
    """The cue a name gives when the content has none: python, jinja, script, tf-graph, onnx, raw-data,
    or `any` (the name changes nothing)."""
    name = name_hint or ""
    suffix = PurePosixPath(name).suffix.lower()
    text_kind = TEXT_SUFFIX_KINDS.get(suffix)
    if text_kind is not None:
        return text_kind
    if suffix == ".pb":
        return "tf-graph"
    if suffix == ".onnx":
        return "onnx"
    lowered = name.lower()
    if lowered.endswith(RAW_DATA_SUFFIXES) or any(pattern in lowered for pattern in RAW_DATA_PATTERNS):
        return "raw-data"
    return ANY


def strip_compression_suffix(name_hint: str | None) -> str | None:
    """The name of what a compressed file holds (`x.py.gz` holds `x.py`), as the scanners name it."""
    if not name_hint:
        return None
    path = PurePosixPath(name_hint)
    return str(path.with_suffix("")) if path.suffix.lower() in COMPRESSION_SUFFIXES else name_hint


def interpretation(path: str | None) -> str:
    """The interpretation a path implies for its bytes (see the module docstring).

    A compressed name also names what it holds: `x.py.gz` is `any/python` (plain bytes under it are
    data; gzip bytes under it hold Python).
    """
    kind = name_kind(path)
    inner_name = strip_compression_suffix(path)
    if inner_name is None or inner_name == path:
        return kind
    inner = interpretation(inner_name)
    return kind if inner == ANY else f"{kind}/{inner}"


_REPRESENTATIVES = {
    ANY: "file.bin",
    "python": "file.py",
    "jinja": "file.jinja",
    "script": "file.sh",
    "tf-graph": "file.pb",
    "onnx": "file.onnx",
    "raw-data": "file.msgpack",
}


def representative_name(interpretation_: str) -> str:
    """A file name with exactly this interpretation, to scan bytes as a path of that kind would be scanned
    (`interpretation(representative_name(i)) == i` for every interpretation `interpretation()` returns).
    Raises ValueError for a string no path yields."""
    outer, _, inner = interpretation_.partition("/")
    if outer not in _REPRESENTATIVES:
        msg = f"not an interpretation: {interpretation_!r}"
        raise ValueError(msg)
    if not inner:
        return _REPRESENTATIVES[outer]
    if outer != ANY:
        # Only a name whose kind is `any` can end in a compression suffix.
        msg = f"not an interpretation: {interpretation_!r}"
        raise ValueError(msg)
    return f"{representative_name(inner)}.gz"
