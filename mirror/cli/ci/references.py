"""Model references in a code tree, found by reading it, never by running it.

Python files are parsed with `ast` and only string literals count: the repository argument of
`*.from_pretrained(...)`, `hf_hub_download(...)`, `snapshot_download(...)`, `pipeline(model=...)` and
`SentenceTransformer(...)`, given positionally or by keyword, with their literal `revision=`, `filename=`,
`subfolder=`, `repo_type=`, `allow_patterns=`/`ignore_patterns=` and `trust_remote_code=True`. A name held
in a variable or built at run time cannot be known without running the code, so it is not guessed.

YAML and JSON configs: the string value of a key in MODEL_KEYS (training and serving configs, PEFT's
`adapter_config.json`), with a sibling `revision`/`model_revision`. A config value must have the
`namespace/name` form, because bare words under `model:` are usually something else (`model: linear`).

Local paths are not references: anything starting with `.`, `/` or `~`, holding a backslash, not a valid
Hub repo id, or naming a file or folder that exists next to the referencing file or at the tree's root.
"""

from __future__ import annotations

import ast
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from mirror.errors import InvalidRepoId, InvalidRevision
from mirror.hub.rules import parse_repo_id, parse_revision

# The keys whose string value names a model repository in YAML and JSON configs.
MODEL_KEYS = frozenset(
    {
        "model_name_or_path",
        "pretrained_model_name_or_path",
        "base_model",
        "base_model_name_or_path",  # PEFT adapter_config.json
        "model",
        "model_id",
        "model_name",
        "repo_id",
        "tokenizer_name",
        "tokenizer_name_or_path",
    }
)
REVISION_KEYS = ("revision", "model_revision")
SOURCE_SUFFIXES = {".py": "python", ".yaml": "yaml", ".yml": "yaml", ".json": "json"}
SKIPPED_DIRS = frozenset({"node_modules", "__pycache__", "site-packages", "venv", "env", "build", "dist"})
MAX_SOURCE_BYTES = 2 << 20  # larger "configs" are data files; a code file this size is generated

# Call name -> the parameter names of its leading positional arguments (None: an argument we ignore).
_CALLS: dict[str, tuple[str | None, ...]] = {
    "from_pretrained": ("pretrained_model_name_or_path",),
    "hf_hub_download": ("repo_id", "filename"),
    "snapshot_download": ("repo_id",),
    "pipeline": (None, "model"),  # pipeline(task, model, ...)
    "SentenceTransformer": ("model_name_or_path",),
}
_REPO_PARAMETERS = {
    "from_pretrained": "pretrained_model_name_or_path",
    "hf_hub_download": "repo_id",
    "snapshot_download": "repo_id",
    "pipeline": "model",
    "SentenceTransformer": "model_name_or_path",
}


@dataclass(frozen=True, slots=True)
class Reference:
    """One place in the code that names a model repository."""

    repo_id: str
    revision: str | None  # as written; None: the default branch
    file: str  # relative to the scanned root, with forward slashes
    line: int
    call: str  # the function called (from_pretrained, hf_hub_download, ...), or "config"
    repo_type: str = "model"
    filename: str | None = None  # hf_hub_download's file
    subfolder: str = ""
    allow_patterns: tuple[str, ...] | None = None  # snapshot_download's; None: every file
    ignore_patterns: tuple[str, ...] = ()
    trust_remote_code: bool = False

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True, slots=True)
class Skipped:
    """A source file that could not be read as what its name says (reported, never fatal)."""

    file: str
    why: str


@dataclass(frozen=True, slots=True)
class Found:
    references: tuple[Reference, ...]
    skipped: tuple[Skipped, ...]


def find_references(root: Path) -> Found:
    """Every model reference under `root` (a folder or one file), sorted by file and line."""
    references: list[Reference] = []
    skipped: list[Skipped] = []
    base = root if root.is_dir() else root.parent
    for path in _source_files(root):
        relative = path.relative_to(base).as_posix()
        try:
            if path.stat().st_size > MAX_SOURCE_BYTES:
                continue
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            skipped.append(Skipped(relative, f"unreadable: {exc}"))
            continue
        kind = SOURCE_SUFFIXES[path.suffix.lower()]
        try:
            if kind == "python":
                found = python_references(text, relative)
            elif kind == "yaml":
                found = yaml_references(text, relative)
            else:
                found = json_references(text, relative)
        except SourceError as exc:
            skipped.append(Skipped(relative, str(exc)))
            continue
        references.extend(ref for ref in found if not _is_local(ref.repo_id, path.parent, base))
    references.sort(key=lambda ref: (ref.file, ref.line, ref.repo_id))
    return Found(references=tuple(references), skipped=tuple(skipped))


class SourceError(ValueError):
    """A file that does not parse as its kind."""


def _source_files(root: Path) -> Iterator[Path]:
    if root.is_file():
        if root.suffix.lower() in SOURCE_SUFFIXES:
            yield root
        return
    for current, dirs, files in os.walk(root):
        # Hidden folders (.git, .venv, .github) and installed packages are not the project's code.
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in SKIPPED_DIRS)
        for name in sorted(files):
            path = Path(current) / name
            if path.suffix.lower() in SOURCE_SUFFIXES and not path.is_symlink():
                yield path


def _is_local(value: str, folder: Path, root: Path) -> bool:
    return (folder / value).exists() or (root / value).exists()


def repo_id_or_none(value: str, *, need_namespace: bool = False) -> str | None:
    """`value` as a Hub repo id, or None when it is a local path or not an id at all."""
    if not value or value.startswith((".", "/", "~")) or "\\" in value:
        return None
    if need_namespace and value.count("/") != 1:
        return None
    try:
        return parse_repo_id(value)
    except InvalidRepoId:
        return None


def _revision_or_none(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    try:
        return parse_revision(value)
    except InvalidRevision:
        return None


# -- Python ------------------------------------------------------------------------------------------------


def python_references(text: str, file: str) -> list[Reference]:
    try:
        tree = ast.parse(text, filename=file)
    except (SyntaxError, ValueError) as exc:
        raise SourceError(f"not valid Python: {exc}") from None
    except (RecursionError, MemoryError):
        raise SourceError("nested too deeply to parse") from None
    found: list[Reference] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            reference = _call_reference(node, file)
            if reference is not None:
                found.append(reference)
    return found


def _callee(func: ast.expr) -> str | None:
    if isinstance(func, ast.Attribute):
        return func.attr
    if isinstance(func, ast.Name):
        return func.id
    return None


def _arguments(node: ast.Call, positional: tuple[str | None, ...]) -> dict[str, ast.expr]:
    named: dict[str, ast.expr] = {}
    for name, value in zip(positional, node.args, strict=False):
        if isinstance(value, ast.Starred):
            break  # *args: what follows is unknowable
        if name is not None:
            named[name] = value
    for keyword in node.keywords:
        if keyword.arg is not None:
            named[keyword.arg] = keyword.value
    return named


def _literal(node: ast.expr | None) -> Any:
    """The value of a literal expression (str, bool, list/tuple of str), else None."""
    if node is None:
        return None
    try:
        value = ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None
    return value


def _patterns(node: ast.expr | None) -> tuple[str, ...] | None:
    value = _literal(node)
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list | tuple) and all(isinstance(item, str) for item in value):
        return tuple(value)
    return None


def _call_reference(node: ast.Call, file: str) -> Reference | None:
    call = _callee(node.func)
    if call not in _CALLS:
        return None
    arguments = _arguments(node, _CALLS[call])
    raw = _literal(arguments.get(_REPO_PARAMETERS[call]))
    repo_id = repo_id_or_none(raw) if isinstance(raw, str) else None
    if repo_id is None:
        return None
    repo_type = _literal(arguments.get("repo_type"))
    filename = _literal(arguments.get("filename"))
    subfolder = _literal(arguments.get("subfolder"))
    allow = _patterns(arguments.get("allow_patterns"))
    ignore = _patterns(arguments.get("ignore_patterns"))
    return Reference(
        repo_id=repo_id,
        revision=_revision_or_none(_literal(arguments.get("revision"))),
        file=file,
        line=node.lineno,
        call=call,
        repo_type=repo_type if repo_type in ("model", "dataset", "space") else "model",
        filename=filename if isinstance(filename, str) and filename else None,
        subfolder=subfolder.strip("/") if isinstance(subfolder, str) else "",
        allow_patterns=allow,
        ignore_patterns=ignore or (),
        trust_remote_code=_literal(arguments.get("trust_remote_code")) is True,
    )


# -- YAML and JSON ------------------------------------------------------------------------------------------


def yaml_references(text: str, file: str) -> list[Reference]:
    try:
        documents = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
    except yaml.YAMLError as exc:
        raise SourceError(f"not valid YAML: {exc}") from None
    found: list[Reference] = []
    seen: set[int] = set()  # aliases share nodes: each is walked once (no billion laughs)
    stack: list[yaml.Node] = [document for document in documents if document is not None]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
        elif isinstance(node, yaml.MappingNode):
            scalars = {
                key.value: value
                for key, value in node.value
                if isinstance(key, yaml.ScalarNode) and isinstance(value, yaml.ScalarNode)
            }
            revision = next((scalars[k].value for k in REVISION_KEYS if k in scalars), None)
            for key, value in node.value:
                stack.append(value)
                if not (isinstance(key, yaml.ScalarNode) and key.value in MODEL_KEYS):
                    continue
                if not isinstance(value, yaml.ScalarNode) or value.tag != "tag:yaml.org,2002:str":
                    continue
                repo_id = repo_id_or_none(value.value, need_namespace=True)
                if repo_id is not None:
                    found.append(
                        Reference(
                            repo_id=repo_id,
                            revision=_revision_or_none(revision),
                            file=file,
                            line=value.start_mark.line + 1,
                            call="config",
                        )
                    )
    return found


# A JSON string: quotes around anything but quotes, backslashes and controls, or escapes.
_JSON_STRING = r'"((?:[^"\\\x00-\x1f]|\\.)*)"'
_JSON_PAIR = re.compile(_JSON_STRING + r"\s*:\s*" + _JSON_STRING)


def json_references(text: str, file: str) -> list[Reference]:
    """Key/value string pairs in a JSON file, with the line each value is on.

    The document is parsed first (a file that is not JSON is skipped, not half-read); the pairs are then
    located in the text, because the json module keeps no line numbers. A revision applies to the model
    keys of the same object, which the parsed document tells.
    """
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise SourceError(f"not valid JSON: {exc}") from None
    revisions = _json_revisions(document)
    found: list[Reference] = []
    for match in _JSON_PAIR.finditer(text):
        key, value = (json.loads(f'"{part}"') for part in match.groups())
        if key not in MODEL_KEYS:
            continue
        repo_id = repo_id_or_none(value, need_namespace=True)
        if repo_id is None:
            continue
        found.append(
            Reference(
                repo_id=repo_id,
                revision=revisions.get((key, value)),
                file=file,
                line=text.count("\n", 0, match.start(2)) + 1,
                call="config",
            )
        )
    return found


def _json_revisions(document: object) -> dict[tuple[str, str], str]:
    """(model key, value) -> the revision named beside it in the same object."""
    revisions: dict[tuple[str, str], str] = {}
    stack = [document]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, dict):
            stack.extend(node.values())
            revision = next((_revision_or_none(node.get(k)) for k in REVISION_KEYS if k in node), None)
            if revision is None:
                continue
            for key in MODEL_KEYS & node.keys():
                if isinstance(node[key], str):
                    revisions[(key, node[key])] = revision
    return revisions
