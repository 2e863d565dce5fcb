"""Malicious Keras, ONNX, TensorFlow, GGUF, template, safetensors and remote-code samples."""

# ruff: noqa: PLC0415 - heavy ML libraries are imported only by the builders that need them
from __future__ import annotations

import base64
import io
import json
import marshal
import struct
import tarfile
import zipfile
from collections.abc import Mapping
from pathlib import Path

from tests.scanners.malicious_registry import (
    cmd,
    py,
    technique,
    write_zip,
)


# --- Keras ------------------------------------------------------------------------------------------
def _keras_zip(out: Path, config: dict[str, object]) -> None:
    import h5py  # type: ignore[import-untyped]

    weights = io.BytesIO()
    with h5py.File(weights, "w") as handle:
        handle.create_group("layers")
    metadata = {"keras_version": "3.6.0", "date_saved": "2026-01-01@00:00:00"}
    write_zip(
        out,
        [
            ("metadata.json", json.dumps(metadata).encode()),
            ("config.json", json.dumps(config).encode()),
            ("model.weights.h5", weights.getvalue()),
        ],
    )


def _functional(layer: Mapping[str, object]) -> dict[str, object]:
    return {
        "module": "keras",
        "class_name": "Sequential",
        "config": {"name": "seq", "layers": [layer]},
        "registered_name": None,
    }


@technique(
    "keras_lambda",
    "lambda.keras",
    "Lambda layer with marshalled bytecode",
    "CVE-2024-3660",
    "keras.lambda-layer",
)
def _keras_lambda(out: Path, marker: Path) -> None:
    code = base64.b64encode(marshal.dumps(compile(py(marker), "<l>", "exec"))).decode()
    layer = {
        "module": "keras.layers",
        "class_name": "Lambda",
        "config": {
            "name": "l",
            "function": {
                "class_name": "__lambda__",
                "config": {"code": code, "defaults": None, "closure": None},
            },
        },
    }
    _keras_zip(out, _functional(layer))


@technique(
    "keras_module_reference",
    "module_ref.keras",
    "config imports subprocess through a module reference",
    "CVE-2025-1550",
    "keras.unsafe-module",
    "keras.dangerous-function",
)
def _keras_module(out: Path, marker: Path) -> None:
    layer = {"module": "subprocess", "class_name": "function", "config": "run", "registered_name": "run"}
    _keras_zip(out, _functional(layer))


@technique(
    "keras_get_file",
    "get_file.keras",
    "config calls keras.utils.get_file",
    "CVE-2025-8747",
    "keras.dangerous-function",
)
def _keras_get_file(out: Path, marker: Path) -> None:
    layer = {
        "module": "keras.utils",
        "class_name": "function",
        "config": "get_file",
        "registered_name": "get_file",
    }
    _keras_zip(out, _functional(layer))


@technique(
    "keras_safe_mode_off",
    "unsafe.keras",
    "config calls enable_unsafe_deserialization",
    "CVE-2025-9906",
    "keras.safe-mode-toggle",
)
def _keras_unsafe(out: Path, marker: Path) -> None:
    layer = {
        "module": "keras.config",
        "class_name": "function",
        "config": "enable_unsafe_deserialization",
        "registered_name": None,
    }
    _keras_zip(out, _functional(layer))


@technique(
    "keras_tfsmlayer",
    "tfsm.keras",
    "TFSMLayer loads an external SavedModel",
    "ModelAudit Keras external-model rule",
    "keras.external-load",
)
def _keras_tfsm(out: Path, marker: Path) -> None:
    layer = {
        "module": "keras.layers",
        "class_name": "TFSMLayer",
        "config": {"name": "t", "filepath": "/tmp/attacker_saved_model", "call_endpoint": "serve"},
    }
    _keras_zip(out, _functional(layer))


@technique(
    "keras_h5_lambda",
    "legacy_lambda.h5",
    "legacy HDF5 model_config with a Lambda layer",
    "CVE-2024-3660; CVE-2025-9905",
    "keras.lambda-layer",
)
def _keras_h5(out: Path, marker: Path) -> None:
    import h5py

    code = base64.b64encode(marshal.dumps(compile(py(marker), "<l>", "exec"))).decode()
    config = {
        "class_name": "Sequential",
        "config": {
            "name": "s",
            "layers": [
                {
                    "class_name": "Lambda",
                    "config": {"name": "l", "function": [code, None, None], "function_type": "lambda"},
                }
            ],
        },
    }
    with h5py.File(out, "w") as handle:
        handle.attrs["model_config"] = json.dumps(config)
        handle.attrs["keras_version"] = "2.15.0"
        handle.create_group("model_weights")


# --- ONNX, TensorFlow ----------------------------------------------------------------------------------
def _onnx_model(location: str, *, in_attribute: bool) -> bytes:
    import onnx
    from onnx import TensorProto, helper

    tensor = helper.make_tensor("w", TensorProto.FLOAT, [1], [0.0])
    tensor.ClearField("float_data")
    tensor.data_location = TensorProto.EXTERNAL
    entry = tensor.external_data.add()
    entry.key, entry.value = "location", location
    if in_attribute:
        node = helper.make_node("Constant", [], ["y"], value=tensor)
        graph = helper.make_graph(
            [node], "g", [], [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])]
        )
    else:
        node = helper.make_node("Identity", ["w"], ["y"])
        graph = helper.make_graph(
            [node],
            "g",
            [],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
            initializer=[tensor],
        )
    serialized: bytes = onnx.helper.make_model(graph).SerializeToString()
    return serialized


@technique(
    "onnx_external_traversal",
    "traversal.onnx",
    "initializer external data '../../etc/passwd'",
    "CVE-2024-27318",
    "onnx.external-data-path",
)
def _onnx_traversal(out: Path, marker: Path) -> None:
    out.write_bytes(_onnx_model("../../../../etc/passwd", in_attribute=False))


@technique(
    "onnx_attribute_absolute",
    "absolute.onnx",
    "Constant attribute tensor with an absolute external path",
    "CVE-2022-25882",
    "onnx.external-data-path",
)
def _onnx_absolute(out: Path, marker: Path) -> None:
    out.write_bytes(_onnx_model("/etc/shadow", in_attribute=True))


def _pb_field(number: int, payload: bytes) -> bytes:
    key = (number << 3) | 2
    length = len(payload)
    varint = b""
    while True:
        byte = length & 0x7F
        length >>= 7
        varint += bytes([byte | (0x80 if length else 0)])
        if not length:
            break
    return bytes([key]) + varint + payload


@technique(
    "tf_savedmodel_writefile",
    "saved_model.pb",
    "SavedModel graph with a WriteFile op",
    "modelscan SavedModel op rule",
    "tensorflow.unsafe-op",
)
def _tf(out: Path, marker: Path) -> None:
    node = _pb_field(1, b"w") + _pb_field(2, b"WriteFile")
    graph = _pb_field(1, node)
    meta = _pb_field(2, graph)
    out.write_bytes(b"\x08\x01" + _pb_field(2, meta))


# --- templates --------------------------------------------------------------------------------------
_ESCAPE = (
    "{% for c in ''.__class__.__mro__[1].__subclasses__() %}{% if c.__name__ == 'Popen' %}{{ c('"
    + "touch MARKER"
    + "', shell=True) }}{% endif %}{% endfor %}"
)


@technique(
    "gguf_chat_template_escape",
    "model.gguf",
    "GGUF chat template walks to Popen",
    "CVE-2024-34359 (llama-cpp-python)",
    "template.sandbox-escape",
)
def _gguf(out: Path, marker: Path) -> None:
    import gguf
    import numpy as np

    writer = gguf.GGUFWriter(str(out), "llama")
    writer.add_chat_template(_ESCAPE.replace("MARKER", str(marker)))
    writer.add_tensor("t", np.zeros(8, dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


@technique(
    "gguf_malformed_dims",
    "dims.gguf",
    "GGUF tensor with 9 dimensions (heap overflow class)",
    "CVE-2024-25664..25668 (Cisco Talos)",
    "gguf.malformed",
)
def _gguf_dims(out: Path, marker: Path) -> None:
    body = (
        b"GGUF"
        + struct.pack("<IQQ", 3, 1, 0)
        + struct.pack("<Q", 1)
        + b"t"
        + struct.pack("<I", 9)
        + struct.pack("<9Q", *[1] * 9)
        + struct.pack("<IQ", 0, 0)
    )
    out.write_bytes(body + b"\x00" * 64)


@technique(
    "tokenizer_config_obfuscated",
    "tokenizer_config.json",
    "chat template builds '__class__' from pieces",
    "CVE-2025-27516 (Jinja attr filter)",
    "template.suspicious-construct",
    "template.sandbox-escape",
)
def _tokenizer_config(out: Path, marker: Path) -> None:
    template = (
        "{{ (messages|attr('__cla' ~ 'ss__')) }}{{ cycler.__init__.__globals__.os.popen('"
        + cmd(marker)
        + "').read() }}"
    )
    out.write_text(json.dumps({"tokenizer_class": "PreTrainedTokenizerFast", "chat_template": template}))


@technique(
    "chat_template_jinja_lipsum",
    "chat_template.jinja",
    "lipsum.__globals__ reaches os",
    "SSTI classic; CVE-2024-34359 class",
    "template.sandbox-escape",
)
def _jinja(out: Path, marker: Path) -> None:
    out.write_text(
        "{{ lipsum.__globals__['os'].popen('"
        + cmd(marker)
        + "').read() }}{% for m in messages %}{{ m.content }}{% endfor %}"
    )


# --- safetensors header rules ---------------------------------------------------------------------------
def _safetensors(
    out: Path, header: bytes | dict[str, object], data: bytes, *, length: int | None = None
) -> None:
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    out.write_bytes(struct.pack("<Q", len(raw) if length is None else length) + raw + data)


def _st_technique(
    name: str, what: str, rule: str, header: bytes | dict[str, object], data: bytes, length: int | None = None
) -> None:
    @technique(
        f"safetensors_{name}",
        f"{name}.safetensors",
        what,
        "safetensors format spec; HF safetensors audit (Trail of Bits 2023)",
        rule,
    )
    def _build(out: Path, marker: Path) -> None:
        _safetensors(out, header, data, length=length)


_T = {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}
_st_technique(
    "header_too_long",
    "header length beyond the file",
    "safetensors.header-size",
    {"a": _T},
    b"\x00" * 8,
    length=10**9,
)
_st_technique("not_json", "header is not JSON", "safetensors.header-invalid-json", b"{not json at all", b"")
_st_technique(
    "duplicate_key",
    "tensor named twice",
    "safetensors.duplicate-key",
    b'{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}',
    b"\x00" * 8,
)
_st_technique(
    "unknown_dtype",
    "dtype PICKLE",
    "safetensors.unknown-dtype",
    {"a": {"dtype": "PICKLE", "shape": [2], "data_offsets": [0, 8]}},
    b"\x00" * 8,
)
_st_technique(
    "shape_mismatch",
    "shape disagrees with byte length",
    "safetensors.shape-mismatch",
    {"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}},
    b"\x00" * 8,
)
_st_technique(
    "overlap",
    "two tensors share bytes",
    "safetensors.overlapping-tensors",
    {"a": _T, "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}},
    b"\x00" * 12,
)
_st_technique(
    "gap",
    "unused bytes between tensors",
    "safetensors.data-gap",
    {"a": _T, "b": {"dtype": "F32", "shape": [1], "data_offsets": [16, 20]}},
    b"\x00" * 20,
)
_st_technique(
    "trailing",
    "pickle appended after the last tensor",
    "safetensors.trailing-bytes",
    {"a": _T},
    b"\x00" * 8 + b"\x80\x02cos\nsystem\n.",
)
_st_technique(
    "metadata",
    "__metadata__ holds a nested object",
    "safetensors.invalid-metadata",
    {"__metadata__": {"format": {"x": 1}}, "a": _T},
    b"\x00" * 8,
)
_st_technique(
    "offsets",
    "offsets past the end of the file",
    "safetensors.offsets-out-of-range",
    {"a": {"dtype": "F32", "shape": [2], "data_offsets": [1000, 1008]}},
    b"\x00" * 8,
)
_st_technique(
    "nesting",
    "deeply nested header",
    "safetensors.nesting-depth",
    b'{"a":' + b"[" * 5000 + b"]" * 5000 + b"}",
    b"",
)
_st_technique(
    "extra_field",
    "tensor entry with an extra key",
    "safetensors.invalid-tensor-entry",
    {"a": {**_T, "loader": "pickle"}},
    b"\x00" * 8,
)


# --- archives ---------------------------------------------------------------------------------------
@technique(
    "zip_traversal",
    "traversal.zip",
    "zip member '../../x.py'",
    "Zip Slip (Snyk 2018)",
    "archive.path-traversal",
)
def _zip_traversal(out: Path, marker: Path) -> None:
    write_zip(out, [("../../.bashrc", b"touch x\n")])


@technique(
    "zip_absolute",
    "absolute.zip",
    "zip member with an absolute path",
    "Zip Slip (Snyk 2018)",
    "archive.absolute-path",
)
def _zip_absolute(out: Path, marker: Path) -> None:
    write_zip(out, [("/etc/cron.d/evil", b"* * * * * root touch x\n")])


@technique(
    "zip_symlink",
    "symlink.zip",
    "zip member that is a symlink",
    "CVE-2023-38545-style link abuse; ModelAudit",
    "archive.link-member",
)
def _zip_symlink(out: Path, marker: Path) -> None:
    info = zipfile.ZipInfo("weights.bin")
    info.create_system = 3
    info.external_attr = 0o120777 << 16
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr(info, "/etc/passwd")


@technique(
    "zip_bomb",
    "bomb.zip",
    "100 MiB of zeros in a 100 KiB member",
    "zip bomb (Fifield 2019)",
    "archive.decompression-bomb",
    "limit.exceeded",
)
def _zip_bomb(out: Path, marker: Path) -> None:
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive, archive.open("zeros.bin", "w") as handle:
        chunk = b"\x00" * (1 << 20)
        for _ in range(100):
            handle.write(chunk)


@technique(
    "zip_overlap",
    "overlap.zip",
    "two central entries share one local member",
    "non-recursive zip bomb (Fifield 2019)",
    "archive.overlapping-members",
)
def _zip_overlap(out: Path, marker: Path) -> None:
    write_zip(out, [("a.txt", b"hello world")])
    data = out.read_bytes()
    cd = data.find(b"PK\x01\x02")
    eocd = data.find(b"PK\x05\x06")
    entry = data[cd:eocd]
    clone = entry.replace(b"a.txt", b"b.txt")
    central = entry + clone
    end = bytearray(data[eocd:])
    struct.pack_into("<HHII", end, 8, 2, 2, len(central), cd)
    out.write_bytes(data[:cd] + central + bytes(end))


@technique(
    "tar_traversal_symlink",
    "evil.tar",
    "tar with a traversal member and a symlink",
    "CVE-2007-4559 (tarfile)",
    "archive.path-traversal",
    "archive.link-member",
)
def _tar(out: Path, marker: Path) -> None:
    with tarfile.open(out, "w") as archive:
        data = b"touch x\n"
        info = tarfile.TarInfo("../../evil.sh")
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("config.json")
        link.type = tarfile.SYMTYPE
        link.linkname = "/etc/passwd"
        archive.addfile(link)


# --- remote code --------------------------------------------------------------------------------------
@technique(
    "config_auto_map",
    "config.json",
    "auto_map points trust_remote_code at repo code",
    "HF trust_remote_code docs; JFrog 2024",
    "remote-code.auto-map",
)
def _auto_map(out: Path, marker: Path) -> None:
    out.write_text(json.dumps({"model_type": "evil", "auto_map": {"AutoModel": "modeling_evil.EvilModel"}}))


@technique(
    "remote_code_python",
    "modeling_evil.py",
    "modeling file run by trust_remote_code",
    "HF trust_remote_code docs",
    "remote-code.python-source",
)
def _python(out: Path, marker: Path) -> None:
    out.write_text(f"import os\nos.system({cmd(marker)!r})\n")
