"""Text formats: recognised and clean unless they carry code. JSON configs are checked for ``auto_map``
(trust_remote_code) and chat templates; Python and shell files are reported for review."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from .blobs import Blob
from .rules import LIMIT_EXCEEDED, REMOTE_CODE_AUTO_MAP, REMOTE_CODE_PYTHON, REMOTE_CODE_SCRIPT
from .templates import analyse_template

if TYPE_CHECKING:
    from .context import ScanContext

_KEYS_OF_INTEREST = re.compile(rb'"(auto_map|chat_template)"\s*:')
_WINDOW = 1 << 20


class TextScanner:
    """README, vocab.txt, merges.txt, licences, CSV/TSV, YAML: nothing loads them as code."""

    name = "text"

    def scan(self, blob: Blob, ctx: ScanContext, *, name_hint: str | None) -> str | None:
        return None


class PythonSourceScanner:
    name = "python"

    def scan(self, blob: Blob, ctx: ScanContext, *, name_hint: str | None) -> str | None:
        ctx.add(
            REMOTE_CODE_PYTHON.finding(
                "Python source: trust_remote_code or a custom pipeline would execute it",
                location=blob.label,
                evidence=name_hint or blob.label,
            )
        )
        return None


class ScriptScanner:
    name = "script"

    def scan(self, blob: Blob, ctx: ScanContext, *, name_hint: str | None) -> str | None:
        ctx.add(
            REMOTE_CODE_SCRIPT.finding("shell or batch script", location=blob.label, evidence=name_hint or "")
        )
        return None


class JinjaScanner:
    name = "jinja"

    def scan(self, blob: Blob, ctx: ScanContext, *, name_hint: str | None) -> str | None:
        source = blob.read_at(0, ctx.limits.max_template_bytes + 1).decode("utf-8", "replace")
        analyse_template(source, location=blob.label, ctx=ctx, origin="chat_template.jinja")
        return None


class JsonScanner:
    name = "json"

    def scan(self, blob: Blob, ctx: ScanContext, *, name_hint: str | None) -> str | None:
        if blob.size <= ctx.limits.max_json_bytes:
            try:
                document = json.loads(blob.read_at(0, blob.size).decode("utf-8-sig"))
            except (UnicodeDecodeError, ValueError, RecursionError):
                return "text"  # not JSON after all (JSONL, a JSON-looking text): nothing runs it
            check_config(document, blob.label, ctx)
            return None
        # Big JSON (tokenizer.json, vocabularies): look for the two keys without building the document.
        for offset in _key_offsets(blob):
            fragment = blob.read_at(offset, ctx.limits.max_template_bytes + 4096).decode("utf-8", "replace")
            member = _decode_member(fragment)
            if not member:
                ctx.add(
                    LIMIT_EXCEEDED.finding(
                        "a config key that can carry code could not be extracted from this large JSON",
                        location=f"{blob.label}@{offset}",
                        evidence=fragment[:80],
                    )
                )
            check_config(member, blob.label, ctx)
        return None


def _key_offsets(blob: Blob) -> list[int]:
    offsets: list[int] = []
    for start in range(0, blob.size, _WINDOW):
        window = blob.read_at(start, _WINDOW + 64)
        for match in _KEYS_OF_INTEREST.finditer(window):
            if match.start() < _WINDOW:
                offsets.append(start + match.start())
        if len(offsets) > 16:
            break
    return offsets


def _decode_member(fragment: str) -> dict[str, Any]:
    """``"key": value`` at the start of ``fragment`` -> {key: value}, or {} when it does not decode."""
    decoder = json.JSONDecoder()
    try:
        key, end = decoder.raw_decode(fragment)
        rest = fragment[end:].lstrip()
        if not rest.startswith(":") or not isinstance(key, str):
            return {}
        value, _ = decoder.raw_decode(rest[1:].lstrip())
    except ValueError:
        return {}
    return {key: value}


def check_config(document: Any, location: str, ctx: ScanContext) -> None:
    """The parts of a Hugging Face JSON config that lead to code: auto_map and chat templates."""
    if not isinstance(document, dict):
        return
    auto_map = document.get("auto_map")
    if auto_map:
        refs = auto_map.values() if isinstance(auto_map, dict) else [auto_map]
        ctx.add(
            REMOTE_CODE_AUTO_MAP.finding(
                "auto_map: loading with trust_remote_code=True imports and runs this repository's code",
                location=location,
                evidence=", ".join(str(r) for r in refs)[:300],
            )
        )
    template = document.get("chat_template")
    if isinstance(template, str):
        analyse_template(template, location=f"{location}#chat_template", ctx=ctx, origin="chat_template")
    elif isinstance(template, list):
        for index, entry in enumerate(template):
            if isinstance(entry, dict) and isinstance(entry.get("template"), str):
                name = entry.get("name", index)
                analyse_template(
                    entry["template"],
                    location=f"{location}#chat_template[{name}]",
                    ctx=ctx,
                    origin="chat_template",
                )
