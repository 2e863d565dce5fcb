"""Keras: the ``.keras`` zip (config.json) and legacy HDF5 ``.h5`` (model_config attribute). Lambda
layers carry marshalled bytecode (CVE-2024-3660); module/function references import arbitrary code
(CVE-2025-1550); some layers load external models or files (TFSMLayer, TorchModuleWrapper:
CVE-2025-49655); configs can call keras.utils.get_file (CVE-2025-8747) or switch safe mode off
(CVE-2025-9906)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .base import Severity
from .blobs import Blob, bytes_blob
from .payloads import unwrap_payloads
from .pickle_policy import DANGEROUS_MODULES
from .rules import (
    KERAS_CUSTOM_OBJECT,
    KERAS_DANGEROUS_FUNCTION,
    KERAS_EXTERNAL_LOAD,
    KERAS_LAMBDA,
    KERAS_UNSAFE_MODULE,
    KERAS_UNSAFE_TOGGLE,
)
from .zipread import ZipDirectory, ZipMember

if TYPE_CHECKING:
    from .context import ScanContext

OpenMember = Callable[[Blob, ZipMember, "ScanContext"], Blob | None]

_KERAS_MODULES = re.compile(
    r"(keras|tf_keras|keras_hub|keras_nlp|keras_cv|tensorflow\.keras|tensorflow\.python\.keras)(\..*)?"
)
_EXTERNAL_LAYERS = frozenset({"TFSMLayer", "TorchModuleWrapper", "JaxLayer", "FlaxLayer", "SavedModelLayer"})
_DANGEROUS_FUNCTIONS = frozenset(
    {"get_file", "load_model", "load_weights", "eval", "exec", "compile", "system", "popen", "__import__",
     "import_module", "open", "getattr", "run", "call", "check_output", "Popen", "loads", "load"}
)  # fmt: skip
_UNSAFE_TOGGLES = ("enable_unsafe_deserialization", "safe_mode")
_CONFIG_STARTS = re.compile(rb'\{\s*"(class_name|module)"\s*:')
_SCAN_WINDOW = 4 << 20
_MAX_WALK_DEPTH = 200


def is_keras_zip(members: tuple[ZipMember, ...]) -> bool:
    names = {m.name for m in members}
    return "config.json" in names and bool(names & {"model.weights.h5", "metadata.json", "model.weights.npz"})


def scan_keras_zip(blob: Blob, directory: ZipDirectory, ctx: ScanContext, *, open_member: OpenMember) -> str:
    for member in directory.members:
        ctx.deadline.check()
        if member.is_dir:
            continue
        content = open_member(blob, member, ctx)
        if content is None:
            continue
        if member.name == "config.json":
            _check_config_member(content, ctx)
        else:
            ctx.scan_nested(content, name_hint=member.name)
        ctx.release(content)
    return "keras"


def _check_config_member(content: Blob, ctx: ScanContext) -> None:
    if content.size > ctx.limits.max_json_bytes:
        ctx.error(content.label, "config.json is larger than the JSON limit")
        return
    try:
        document = json.loads(content.read_at(0, content.size).decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        ctx.error(content.label, f"config.json is not JSON: {exc}")
        return
    analyse_keras_config(document, location=content.label, ctx=ctx)


class KerasH5Scanner:
    """HDF5 files: Keras stores its model and training configs as JSON string attributes. Rather than
    parse HDF5 (a large attack surface of its own), find those JSON documents in the bytes."""

    name = "hdf5"

    def scan(self, blob: Blob, ctx: ScanContext, *, name_hint: str | None) -> str | None:
        found = False
        covered_until = 0
        for start in range(0, blob.size, _SCAN_WINDOW):
            ctx.deadline.check()
            window = blob.read_at(start, _SCAN_WINDOW + 64)
            for match in _CONFIG_STARTS.finditer(window):
                offset = start + match.start()
                if match.start() >= _SCAN_WINDOW or offset < covered_until:
                    continue
                document, length = _decode_json_at(blob, offset, ctx.limits.max_json_bytes)
                if document is None:
                    continue
                covered_until = offset + length
                found = True
                analyse_keras_config(document, location=f"{blob.label}@{offset}", ctx=ctx)
        return "keras-h5" if found else None


def _decode_json_at(blob: Blob, offset: int, limit: int) -> tuple[Any, int]:
    raw = blob.read_at(offset, limit)
    end = raw.find(b"\x00")
    text = raw[: end if end >= 0 else len(raw)].decode("utf-8", "replace")
    try:
        document, length = json.JSONDecoder().raw_decode(text)
    except (ValueError, RecursionError):
        return None, 0
    return document, length


def analyse_keras_config(document: Any, *, location: str, ctx: ScanContext) -> None:
    _walk(document, location, ctx, depth=0)


def _walk(value: Any, location: str, ctx: ScanContext, *, depth: int) -> None:
    if depth > _MAX_WALK_DEPTH:
        ctx.error(location, "Keras config nests too deeply")
        return
    if isinstance(value, dict):
        _judge_object(value, location, ctx)
        for child in value.values():
            _walk(child, location, ctx, depth=depth + 1)
    elif isinstance(value, list):
        for child in value:
            _walk(child, location, ctx, depth=depth + 1)
    elif isinstance(value, str) and any(toggle in value for toggle in _UNSAFE_TOGGLES):
        ctx.add(
            KERAS_UNSAFE_TOGGLE.finding(
                "config references unsafe deserialization", location=location, evidence=value[:200]
            )
        )


def _judge_object(obj: dict[str, Any], location: str, ctx: ScanContext) -> None:
    class_name = obj.get("class_name")
    config = obj.get("config")
    module = obj.get("module")
    name = obj.get("name") or (config.get("name") if isinstance(config, dict) else None)
    where = f"{location}#{name}" if name else location
    if class_name == "Lambda":
        _judge_lambda(config, where, ctx)
    if class_name in _EXTERNAL_LAYERS:
        ctx.add(
            KERAS_EXTERNAL_LOAD.finding(
                f"{class_name} loads an external model", location=where, evidence=json.dumps(config)[:300]
            )
        )
        _scan_embedded(config, where, ctx)
    if isinstance(module, str) and module and not _KERAS_MODULES.fullmatch(module):
        _judge_module(module, obj, where, ctx)
    if class_name == "function" and isinstance(config, str):
        _judge_function(module if isinstance(module, str) else "", config, where, ctx)
    if class_name == "__lambda__":
        ctx.add(
            KERAS_LAMBDA.finding(
                "serialized Python lambda",
                location=where,
                evidence=json.dumps(config)[:200],
                severity=Severity.CRITICAL,
            )
        )


def _judge_lambda(config: Any, where: str, ctx: ScanContext) -> None:
    function = config.get("function") if isinstance(config, dict) else None
    bytecode = isinstance(function, list) or (
        isinstance(function, dict) and function.get("class_name") == "__lambda__"
    )
    ctx.add(
        KERAS_LAMBDA.finding(
            "Lambda layer with marshalled bytecode" if bytecode else "Lambda layer calls a function",
            location=where,
            evidence=json.dumps(function)[:200],
            severity=Severity.CRITICAL if bytecode else Severity.HIGH,
        )
    )


def _judge_module(module: str, obj: dict[str, Any], where: str, ctx: ScanContext) -> None:
    top = module.split(".", 1)[0]
    dangerous = top in DANGEROUS_MODULES or module in DANGEROUS_MODULES
    registered = str(obj.get("registered_name") or "")
    if not dangerous and ">" in registered:
        ctx.add(
            KERAS_CUSTOM_OBJECT.finding(
                "custom object from a user package", location=where, evidence=f"{module}:{registered}"
            )
        )
        return
    ctx.add(
        KERAS_UNSAFE_MODULE.finding(
            "config imports a module outside Keras",
            location=where,
            evidence=f"{module}.{obj.get('class_name')}",
            severity=Severity.CRITICAL if dangerous else Severity.HIGH,
        )
    )


def _judge_function(module: str, function: str, where: str, ctx: ScanContext) -> None:
    last = function.rsplit(".", 1)[-1]
    foreign = bool(module) and not _KERAS_MODULES.fullmatch(module)
    if last in _DANGEROUS_FUNCTIONS or (foreign and module.split(".", 1)[0] in DANGEROUS_MODULES):
        ctx.add(
            KERAS_DANGEROUS_FUNCTION.finding(
                "config references a dangerous function", location=where, evidence=f"{module}.{function}"
            )
        )
    if any(toggle in function for toggle in _UNSAFE_TOGGLES):
        ctx.add(
            KERAS_UNSAFE_TOGGLE.finding(
                "config calls enable_unsafe_deserialization", location=where, evidence=function
            )
        )


def _scan_embedded(config: Any, where: str, ctx: ScanContext) -> None:
    """TorchModuleWrapper keeps a torch.save of the module as base64 text: scan it as a payload."""
    if not isinstance(config, dict):
        return
    for value in config.values():
        if isinstance(value, str) and len(value) > 64:
            for payload in unwrap_payloads(bytes_blob(value.encode(), f"{where}:embedded"), ctx.limits):
                ctx.scan_nested(payload, name_hint=None)
        elif isinstance(value, dict):
            _scan_embedded(value, where, ctx)
