"""Malicious Hugging Face JSON configs that hide remote code or a template from a scanner that does not
read JSON the way ``json.loads`` does (issue #11): escaped keys, decoys, duplicate keys, large files."""

from __future__ import annotations

import json
from pathlib import Path

from tests.scanners.malicious_registry import cmd, technique

LARGE = 9 * 1024 * 1024  # beyond the 8 MiB where the old scanner stopped parsing and grepped instead


def evil_template(marker: Path) -> str:
    return "{{ cycler.__init__.__globals__.os.popen('" + cmd(marker) + "').read() }}"


def filler(size: int) -> dict[str, str]:
    """A vocabulary-like object of about ``size`` bytes (what makes real tokenizer files large)."""
    return {f"tok{i}": "v" * 90 for i in range(size // 100 + 1)}


def escaped_auto_map_document() -> str:
    """``"auto\\u005fmap"`` is the key ``auto_map`` once decoded; a byte search for the key misses it."""
    head = json.dumps({"model_type": "llama", "vocab": filler(LARGE)})[:-1]
    return head + ', "auto\\u005fmap": {"AutoModelForCausalLM": "modeling_evil.EvilModel"}}'


def decoyed_template_document(marker: Path, *, decoys: int = 20) -> str:
    """Nested ``chat_template`` keys that mean nothing to a loader, then the real top-level one."""
    nested = {f"preset{i}": {"chat_template": "{{ messages[0].content }}"} for i in range(decoys)}
    document = {"presets": nested, "vocab": filler(LARGE), "chat_template": evil_template(marker)}
    return json.dumps(document)


def duplicate_template_document(marker: Path) -> str:
    """json.loads keeps the last ``chat_template`` (benign); readers that keep the first get the evil one."""
    benign = json.dumps("{% for m in messages %}{{ m.content }}{% endfor %}")
    return '{"chat_template": ' + json.dumps(evil_template(marker)) + ', "chat_template": ' + benign + "}"


@technique(
    "config_escaped_auto_map",
    "config.json",
    "large config whose auto_map key is written with a \\u escape",
    "issue #11; JSON escapes are decoded by json.loads (RFC 8259 section 7)",
    "remote-code.auto-map",
)
def _escaped_auto_map(out: Path, marker: Path) -> None:
    out.write_text(escaped_auto_map_document())


@technique(
    "config_decoy_chat_templates",
    "tokenizer_config.json",
    "20 nested decoy chat_template keys push the real one past a capped search",
    "issue #11 (search stopped after 16 matches)",
    "template.sandbox-escape",
)
def _decoys(out: Path, marker: Path) -> None:
    out.write_text(decoyed_template_document(marker))


@technique(
    "config_duplicate_chat_template",
    "tokenizer_config.json",
    "chat_template given twice: evil first, benign last",
    "issue #11; duplicate JSON keys (RFC 8259 section 4: behaviour unpredictable)",
    "config.duplicate-key",
    "template.sandbox-escape",
)
def _duplicate(out: Path, marker: Path) -> None:
    out.write_text(duplicate_template_document(marker))
