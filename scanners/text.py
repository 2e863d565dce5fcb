"""Text formats: recognised and clean unless they carry code. JSON configs are checked for ``auto_map``
(trust_remote_code) and chat templates; Python and shell files are reported for review."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .blobs import Blob
from .json_members import Oversized, Undecodable, read_members
from .limits import LimitExceeded
from .rules import (
    CONFIG_DUPLICATE_KEY,
    LIMIT_EXCEEDED,
    REMOTE_CODE_AUTO_MAP,
    REMOTE_CODE_CUSTOM_PIPELINE,
    REMOTE_CODE_PYTHON,
    REMOTE_CODE_SCRIPT,
)
from .templates import analyse_template

if TYPE_CHECKING:
    from .context import ScanContext

# Top-level config keys the Hugging Face loaders act on in ways that run code: auto_map and
# custom_pipelines make trust_remote_code import the repository's modules; chat templates are rendered.
CONFIG_KEYS = frozenset({"auto_map", "custom_pipelines", "chat_template"})


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
    """Every JSON document, small or large, is judged by one reader (:mod:`.json_members`) that decodes
    keys and values exactly as ``json.loads`` does and streams the rest in bounded memory."""

    name = "json"

    def scan(self, blob: Blob, ctx: ScanContext, *, name_hint: str | None) -> str | None:
        found = read_members(
            blob.chunks(),
            wanted=CONFIG_KEYS,
            max_value_chars=ctx.limits.max_json_value_bytes,
            deadline=ctx.deadline,
        )
        for key, count in found.counts.items():
            if count > 1:
                ctx.add(
                    CONFIG_DUPLICATE_KEY.finding(
                        f"{key!r} appears {count} times: json.loads keeps the last, other readers the "
                        "first or refuse; every occurrence was checked",
                        location=f"{blob.label}#{key}",
                        evidence=key,
                    )
                )
        for key, value in found.members:
            _check_member(key, value, blob.label, ctx)
        # Not JSON after all (JSONL, a JSON-looking text): no loader reads it as a config.
        return None if found.valid else "text"


def _check_member(key: str, value: Any, location: str, ctx: ScanContext) -> None:
    where = f"{location}#{key}"
    if isinstance(value, Oversized | Undecodable):
        what = "is too large to decode" if isinstance(value, Oversized) else "does not decode"
        ctx.add(
            LIMIT_EXCEEDED.finding(
                f"the value of {key!r}, which can lead to code, {what} and was not checked",
                location=where,
                evidence=str(value),
            )
        )
        return
    try:
        if key == "chat_template":
            _check_templates(value, where, ctx)
        elif value:
            rule = REMOTE_CODE_AUTO_MAP if key == "auto_map" else REMOTE_CODE_CUSTOM_PIPELINE
            ctx.add(
                rule.finding(
                    f"{key}: loading with trust_remote_code=True imports and runs this repository's code",
                    location=where,
                    evidence=", ".join(str(r) for r in _references(value))[:300],
                )
            )
    except LimitExceeded as exc:
        # One oversized template must not hide the members after it.
        ctx.add(LIMIT_EXCEEDED.finding(str(exc), location=where, evidence=exc.limit))


def _references(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return list(value.values())
    return value if isinstance(value, list) else [value]


def _check_templates(template: Any, where: str, ctx: ScanContext) -> None:
    """A string, or transformers' list of {"name", "template"} entries."""
    if isinstance(template, str):
        analyse_template(template, location=where, ctx=ctx, origin="chat_template")
    elif isinstance(template, list):
        for index, entry in enumerate(template):
            if isinstance(entry, dict) and isinstance(entry.get("template"), str):
                analyse_template(
                    entry["template"],
                    location=f"{where}[{entry.get('name', index)}]",
                    ctx=ctx,
                    origin="chat_template",
                )
