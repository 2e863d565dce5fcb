"""Jinja2 chat templates (tokenizer_config.json, chat_template.jinja, GGUF metadata): parsed, never
rendered, and walked for the attribute paths and obfuscations that escape the sandbox (CVE-2024-34359
llama-cpp-python, CVE-2024-56326 and CVE-2025-27516 in Jinja2's own sandbox)."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING

from .base import Severity
from .limits import LimitExceeded
from .rules import TEMPLATE_ESCAPE, TEMPLATE_PRESENT, TEMPLATE_SUSPICIOUS, TEMPLATE_UNPARSEABLE
from .textutil import words

if TYPE_CHECKING:
    from jinja2 import nodes
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    from .context import ScanContext

_DUNDER = re.compile(r"__[A-Za-z]\w*__")
_RISKY_ATTRIBUTES = words(
    """
    mro func_globals f_globals f_locals f_builtins f_back gi_frame gi_code cr_frame ag_frame
    tb_frame tb_next co_code im_func os popen system eval exec import_module modules builtins
    subclasses format_map getattr setattr globals locals _module load_module exec_module
    spec_from_file_location
    """
)
_RISKY_NAMES = frozenset(["lipsum", "cycler", "joiner", "self", "request", "url_for", "get_flashed_messages"])
# Filters that assemble new strings from pieces (lower/upper only recase an existing value).
_STRING_BUILDERS = frozenset({"join", "format", "replace", "reverse", "attr"})


@functools.cache
def _environment() -> ImmutableSandboxedEnvironment:
    """The parser, built on first use: Jinja2 costs ~45 ms to import and most files have no template."""
    from jinja2 import nodes  # noqa: PLC0415
    from jinja2.ext import Extension  # noqa: PLC0415
    from jinja2.parser import Parser  # noqa: PLC0415
    from jinja2.sandbox import ImmutableSandboxedEnvironment  # noqa: PLC0415

    class GenerationTag(Extension):
        """transformers' {% generation %} ... {% endgeneration %} block (AssistantTracker)."""

        tags = {"generation"}  # the base class declares a mutable set

        def parse(self, parser: Parser) -> nodes.Node:
            lineno = next(parser.stream).lineno
            body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
            return nodes.Scope(body).set_lineno(lineno)

    return ImmutableSandboxedEnvironment(
        extensions=[GenerationTag, "jinja2.ext.loopcontrols", "jinja2.ext.do"],
        trim_blocks=True,
        lstrip_blocks=True,
    )


def analyse_template(source: str, *, location: str, ctx: ScanContext, origin: str) -> None:
    """Report what in ``source`` reaches past the sandbox; an ordinary template yields one INFO."""
    if len(source) > ctx.limits.max_template_bytes:
        raise LimitExceeded("max_template_bytes", f"{origin} template has {len(source)} characters")
    before = len(ctx.findings)
    environment = _environment()
    from jinja2 import TemplateSyntaxError  # noqa: PLC0415 - loaded by _environment already

    try:
        tree = environment.parse(source)
    except TemplateSyntaxError as exc:
        _fallback(source, location, ctx, origin, str(exc))
        return
    for finding_args in _walk(tree):
        rule, severity, message, evidence = finding_args
        ctx.add(rule.finding(f"{origin}: {message}", location=location, evidence=evidence, severity=severity))
    if not any(f.severity.flags for f in ctx.findings[before:]):
        ctx.add(
            TEMPLATE_PRESENT.finding(f"{origin} chat template has no risky constructs", location=location)
        )


def _fallback(source: str, location: str, ctx: ScanContext, origin: str, error: str) -> None:
    # Other engines (llama.cpp's minja) accept syntax Jinja2 rejects, so still look for the tell-tales.
    dunder = _DUNDER.search(source)
    if dunder is not None:
        ctx.add(
            TEMPLATE_ESCAPE.finding(
                f"{origin}: template names a dunder attribute", location=location, evidence=dunder.group(0)
            )
        )
    ctx.add(
        TEMPLATE_UNPARSEABLE.finding(
            f"{origin} template does not parse", location=location, evidence=error[:200]
        )
    )


def _walk(tree: nodes.Template) -> Iterator[tuple]:  # type: ignore[type-arg]
    from jinja2 import nodes  # noqa: PLC0415 - imported by _environment already

    assigned = {n.name for n in tree.find_all(nodes.Name) if n.ctx in ("store", "param")}
    for node in tree.find_all(nodes.Node):
        if isinstance(node, nodes.Getattr):
            yield from _judge_attribute(node.attr, f".{node.attr}")
        elif isinstance(node, nodes.Getitem):
            yield from _judge_subscript(node)
        elif isinstance(node, nodes.Filter) and node.name == "attr":
            yield from _judge_attr_filter(node)
        elif isinstance(node, nodes.Name) and node.name in _RISKY_NAMES and node.name not in assigned:
            yield (
                TEMPLATE_SUSPICIOUS,
                Severity.HIGH,
                "uses a global that sandbox escapes start from",
                node.name,
            )
        elif isinstance(node, nodes.Const) and isinstance(node.value, str):
            dunder = _DUNDER.search(node.value)
            if dunder is not None:
                yield (
                    TEMPLATE_ESCAPE,
                    Severity.CRITICAL,
                    "string constant names a dunder attribute",
                    dunder.group(0),
                )
        elif isinstance(node, nodes.Include | nodes.Import | nodes.FromImport | nodes.Extends):
            yield TEMPLATE_SUSPICIOUS, Severity.MEDIUM, "loads another template", type(node).__name__
        elif _is_str_format_call(node):
            yield (
                TEMPLATE_SUSPICIOUS,
                Severity.LOW,
                "str.format call (a past sandbox-escape vector)",
                "format",
            )


def _is_str_format_call(node: nodes.Node) -> bool:
    from jinja2 import nodes  # noqa: PLC0415

    return (
        isinstance(node, nodes.Call)
        and isinstance(node.node, nodes.Getattr)
        and node.node.attr == "format"
        and isinstance(node.node.node, nodes.Const)
    )


def _judge_attribute(attr: str, evidence: str) -> Iterator[tuple]:  # type: ignore[type-arg]
    if attr.startswith("_"):
        yield TEMPLATE_ESCAPE, Severity.CRITICAL, "reads a private or dunder attribute", evidence
    elif attr in _RISKY_ATTRIBUTES:
        yield (
            TEMPLATE_ESCAPE,
            Severity.CRITICAL,
            "reads an attribute that reaches interpreter internals",
            evidence,
        )


def _judge_subscript(node: nodes.Getitem) -> Iterator[tuple]:  # type: ignore[type-arg]
    from jinja2 import nodes  # noqa: PLC0415

    key = node.arg
    if isinstance(key, nodes.Const):
        if isinstance(key.value, str):
            yield from _judge_attribute(key.value, f"[{key.value!r}]")
        return
    if _builds_string(key):
        yield (
            TEMPLATE_SUSPICIOUS,
            Severity.HIGH,
            "subscript key is assembled from string pieces",
            type(key).__name__,
        )


def _judge_attr_filter(node: nodes.Filter) -> Iterator[tuple]:  # type: ignore[type-arg]
    from jinja2 import nodes  # noqa: PLC0415

    arg = node.args[0] if node.args else None
    if isinstance(arg, nodes.Const) and isinstance(arg.value, str):
        yield from _judge_attribute(arg.value, f"|attr({arg.value!r})")
        yield (
            TEMPLATE_SUSPICIOUS,
            Severity.MEDIUM,
            "uses the attr filter (chat templates have no need)",
            arg.value,
        )
    else:
        yield TEMPLATE_SUSPICIOUS, Severity.HIGH, "attr filter with a computed attribute name", "attr(...)"


def _builds_string(node: nodes.Node) -> bool:
    from jinja2 import nodes  # noqa: PLC0415

    for inner in [node, *node.find_all(nodes.Node)]:
        if isinstance(inner, nodes.Concat | nodes.Mod):
            return True
        if isinstance(inner, nodes.Add) and any(
            isinstance(side, nodes.Const) and isinstance(side.value, str)
            for side in (inner.left, inner.right)
        ):
            return True
        if isinstance(inner, nodes.Filter) and inner.name in _STRING_BUILDERS:
            return True
        if isinstance(inner, nodes.Slice) and inner.step is not None:
            return True
    return False
