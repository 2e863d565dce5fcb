"""Which files of a revision a reference makes the code fetch.

`hubgate check` must know what the code will ask hubgate for, because those files have to be approved and
served; the others in the lock only have to be untouched and not refused. What each call fetches:

- `hf_hub_download(repo, filename, subfolder=...)`: that one file (also when the revision lacks it);
  every file when the name is not a literal.
- `snapshot_download(repo, allow_patterns=..., ignore_patterns=...)`: every file matching the patterns
  (fnmatch, as huggingface_hub's `filter_repo_objects` matches them; a pattern ending in `/` means the
  folder's contents), every file without patterns.
- `from_pretrained`, `pipeline(model=...)`, `SentenceTransformer`, and a model named in a config: what a
  loader may fetch, which depends on the classes and files involved. We take every file under the
  subfolder except what no loader reads: the card and docs (`*.md`, images, `.gitattributes`), weight
  formats other than the one the loader prefers (with any `*.safetensors` present, `*.bin`, `*.pt`,
  `*.pth`, `*.ckpt`, `*.h5`, `*.msgpack`, `*.ot`, ONNX, GGUF, TFLite, Core ML and OpenVINO files are
  alternatives transformers skips), and Python files unless the call passes `trust_remote_code=True`.
  This errs toward more files: a file the code might need is checked rather than assumed unneeded.
- a repository given on the command line or in a list file: the whole snapshot, unless `--include`
  patterns narrow it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from fnmatch import fnmatch

from mirror.cli.ci.references import Reference

_DOCS = ("*.md", "*.png", "*.jpg", "*.jpeg", "*.gif", "*.svg", "*.webp", ".gitattributes", ".gitignore")
_ALTERNATIVE_WEIGHTS = (
    "*.bin",
    "*.pt",
    "*.pth",
    "*.ckpt",
    "*.h5",
    "*.msgpack",
    "*.ot",
    "*.onnx",
    "*.onnx_data",
    "*.gguf",
    "*.tflite",
    "*.mlmodel",
    "*.mlpackage/*",
    "onnx/*",
    "openvino/*",
    "coreml/*",
)
_REMOTE_CODE = ("*.py",)


def needed_paths(reference: Reference, paths: Sequence[str]) -> tuple[str, ...]:
    """The files of a revision (`paths`) that `reference` makes the code fetch."""
    if reference.call == "hf_hub_download":
        name = reference.filename
        if name is None:
            return tuple(paths)  # a file name only running the code would tell: any of them
        # Kept when the revision lacks it: the code would fail to fetch it, and check says so.
        return (f"{reference.subfolder}/{name}" if reference.subfolder else name,)
    if reference.call == "snapshot_download":
        return matching(paths, reference.allow_patterns, reference.ignore_patterns)
    return loader_files(paths, subfolder=reference.subfolder, remote_code=reference.trust_remote_code)


def matching(
    paths: Iterable[str], include: Sequence[str] | None, exclude: Sequence[str] = ()
) -> tuple[str, ...]:
    """Paths matching any `include` pattern (all when None) and no `exclude` pattern."""
    return tuple(
        path
        for path in paths
        if (include is None or _any(path, include)) and not (exclude and _any(path, exclude))
    )


def _any(path: str, patterns: Iterable[str]) -> bool:
    # As huggingface_hub: "data/" stands for "data/*".
    return any(fnmatch(path, pattern + "*" if pattern.endswith("/") else pattern) for pattern in patterns)


def loader_files(paths: Sequence[str], *, subfolder: str = "", remote_code: bool = False) -> tuple[str, ...]:
    prefix = f"{subfolder}/" if subfolder else ""
    inside = [path for path in paths if path.startswith(prefix)]
    skip = [*_DOCS]
    if any(path.endswith(".safetensors") for path in inside):
        skip.extend(_ALTERNATIVE_WEIGHTS)
    if not remote_code:
        skip.extend(_REMOTE_CODE)
    return tuple(path for path in inside if not _any(path.removeprefix(prefix), skip))
