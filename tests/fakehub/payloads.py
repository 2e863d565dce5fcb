"""The JSON bodies of the Hub's API, shaped as the Hub shapes them (and as hf_api.py parses them)."""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from tests.fakehub import errors
from tests.fakehub.files import FakeFile
from tests.fakehub.repo import Commit, FakeRepo

# What `expand` may ask for, per repo type (the client's ExpandModelProperty_T and friends).
EXPANDABLE: dict[str, frozenset[str]] = {
    "model": frozenset(
        {
            "author", "baseModels", "cardData", "childrenModelCount", "config", "createdAt", "disabled",
            "downloads", "downloadsAllTime", "evalResults", "gated", "gguf", "inference",
            "inferenceProviderMapping", "lastModified", "library_name", "likes", "mask_token",
            "model-index", "pipeline_tag", "private", "resourceGroup", "safetensors", "sha", "siblings",
            "spaces", "tags", "transformersInfo", "trendingScore", "usedStorage", "widgetData",
        }
    ),
    "dataset": frozenset(
        {
            "author", "cardData", "citation", "createdAt", "description", "disabled", "downloads",
            "downloadsAllTime", "gated", "lastModified", "likes", "mainSize", "paperswithcode_id", "private",
            "resourceGroup", "sha", "siblings", "tags", "trendingScore", "usedStorage",
        }
    ),
    "space": frozenset(
        {
            "author", "cardData", "createdAt", "datasets", "disabled", "lastModified", "likes", "models",
            "private", "region", "resourceGroup", "runtime", "sdk", "sha", "siblings", "subdomain", "tags",
            "trendingScore", "usedStorage",
        }
    ),
}  # fmt: skip
_PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".joblib")
_SAFETENSORS_DTYPES = frozenset({"F64", "F32", "F16", "BF16", "I64", "I32", "I16", "I8", "U8", "BOOL"})
_MAX_PARSED_HEADER = 1 << 20


def iso_date(moment: datetime) -> str:
    """The Hub's timestamp format: UTC, milliseconds, `Z`."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def repo_info(
    repo: FakeRepo,
    commit: Commit,
    *,
    expand: tuple[str, ...],
    blobs: bool,
    security_status: bool,
) -> dict[str, Any]:
    """`GET /api/{type}s/{repo}[/revision/{rev}]`. With `expand`, only those fields (plus `_id`, `id`)."""
    unknown = [field for field in expand if field not in EXPANDABLE[repo.repo_type]]
    if unknown:
        allowed = ", ".join(sorted(EXPANDABLE[repo.repo_type]))
        raise errors.bad_request(f'"expand" must be one of [{allowed}], got {unknown[0]!r}')
    fields = _all_fields(repo, commit, blobs=blobs)
    if expand:
        fields = {k: v for k, v in fields.items() if k in ("_id", "id", *expand)}
    if security_status:
        fields["securityRepoStatus"] = {"scansDone": True, "filesWithIssues": []}
    return fields


def tree_entry(repo: FakeRepo, commit: Commit, path: str, *, expand: bool, xet_hints: bool) -> dict[str, Any]:
    """One entry of `/tree` and `/paths-info`; `path` must exist in `commit`."""
    file = commit.files.get(path)
    entry: dict[str, Any]
    if file is None:
        entry = {"type": "directory", "oid": commit.trees[path], "size": 0, "path": path}
    else:
        entry = {"type": "file", "oid": file.git_oid, "size": file.size}
        if file.lfs:
            entry["lfs"] = {"oid": file.sha256, "size": file.size, "pointerSize": len(_pointer(file))}
            if xet_hints:
                entry["xetHash"] = file.xet_hash
        entry["path"] = path
    if expand:
        changed = repo.last_change(commit, path)
        entry["lastCommit"] = {"id": changed.sha, "title": changed.title, "date": iso_date(changed.date)}
        if file is not None:
            entry["securityFileStatus"] = _security_status(file, unsafe=path in repo.settings.unsafe_paths)
    return entry


def refs(repo: FakeRepo, *, include_pull_requests: bool) -> dict[str, Any]:
    """`GET /api/{type}s/{repo}/refs`."""

    def ref_list(prefix: str, names: Iterable[tuple[str, str]]) -> list[dict[str, str]]:
        return [{"name": name, "ref": f"{prefix}{name}", "targetCommit": sha} for name, sha in names]

    body: dict[str, Any] = {
        "branches": ref_list("refs/heads/", repo.branches.items()),
        "converts": [],
        "tags": ref_list("refs/tags/", repo.tags.items()),
    }
    if include_pull_requests:
        body["pullRequests"] = ref_list(
            "refs/pr/", ((str(n), sha) for n, sha in sorted(repo.pull_requests.items()))
        )
    return body


def whoami(user: str) -> dict[str, Any]:
    return {
        "type": "user",
        "id": hashlib.sha1(user.encode()).hexdigest()[:24],
        "name": user,
        "fullname": user.title(),
        "email": f"{user}@example.invalid",
        "emailVerified": True,
        "canPay": False,
        "isPro": False,
        "periodEnd": None,
        "avatarUrl": "/avatars/default.svg",
        "orgs": [],
        "auth": {"type": "access_token", "accessToken": {"displayName": "fakehub", "role": "read"}},
    }


def _all_fields(repo: FakeRepo, commit: Commit, *, blobs: bool) -> dict[str, Any]:
    settings = repo.settings
    common: dict[str, Any] = {
        "_id": repo.object_id,
        "id": repo.repo_id,
        "author": repo.author,
        "sha": commit.sha,
        "lastModified": iso_date(commit.date),
        "private": settings.private,
        "gated": settings.gated,
        "disabled": settings.disabled,
        "likes": settings.likes,
        "tags": _tags(repo, commit),
        "cardData": dict(settings.card_data),
        "siblings": [_sibling(f, blobs=blobs) for f in commit.files.values()],
        "createdAt": iso_date(settings.created_at),
        "usedStorage": sum(f.size for f in commit.files.values()),
    }
    if repo.repo_type == "model":
        common["modelId"] = repo.repo_id
        common["downloads"] = settings.downloads
        common["library_name"] = settings.library_name
        common["pipeline_tag"] = settings.pipeline_tag
        common["config"] = _model_config(commit)
        common["spaces"] = []
        if (safetensors := _safetensors_summary(commit)) is not None:
            common["safetensors"] = safetensors
    elif repo.repo_type == "dataset":
        common["downloads"] = settings.downloads
        common["description"] = settings.card_data.get("pretty_name", "")
        common["citation"] = None
        common["paperswithcode_id"] = None
    else:
        common["sdk"] = settings.card_data.get("sdk", "static")
        common["subdomain"] = repo.repo_id.replace("/", "-").lower()
        common["runtime"] = {
            "stage": "RUNNING",
            "hardware": {"current": "cpu-basic", "requested": "cpu-basic"},
        }
        common["models"] = []
        common["datasets"] = []
    return {k: v for k, v in common.items() if v is not None or k in ("author", "citation")}


def _sibling(file: FakeFile, *, blobs: bool) -> dict[str, Any]:
    sibling: dict[str, Any] = {"rfilename": file.path}
    if blobs:
        sibling["blobId"] = file.git_oid
        sibling["size"] = file.size
        if file.lfs:
            sibling["lfs"] = {"sha256": file.sha256, "size": file.size, "pointerSize": len(_pointer(file))}
    return sibling


def _pointer(file: FakeFile) -> bytes:
    if file.pointer is None:
        raise ValueError(f"{file.path} is not stored in LFS")
    return file.pointer.text


def _tags(repo: FakeRepo, commit: Commit) -> list[str]:
    settings = repo.settings
    tags = list(settings.tags)
    for extra in (settings.library_name, settings.pipeline_tag):
        if extra:
            tags.append(extra)
    if repo.repo_type == "model":
        tags.extend(_base_model_tags(settings.card_data, commit))
    if license_name := settings.card_data.get("license"):
        tags.append(f"license:{license_name}")
    tags.append("region:us")
    return list(dict.fromkeys(tags))


_RELATIONS = ("adapter", "merge", "quantized", "finetune")


def _base_model_tags(card: dict[str, Any], commit: Commit) -> list[str]:
    """The Hub tags a model with every base its card names (`base_model`: one id or a list, hub-docs
    docs/hub/model-cards.md "Specifying a base model"), bare and with the relation: Qwen/Qwen3-8B is tagged
    `base_model:Qwen/Qwen3-8B-Base` and `base_model:finetune:Qwen/Qwen3-8B-Base` in its API answer, and
    quantizations `base_model:quantized:<id>` (recorded answers of GET /api/models/{id}). The relation is
    the card's `base_model_relation` when it names one; otherwise the Hub infers it from the repo (an
    adapter_config.json: adapter, several bases: merge, else finetune; PEFT writes `base_model:adapter:`
    for its adapters, peft_model.py)."""
    value = card.get("base_model")
    listed = value if isinstance(value, list) else [value]
    bases = [base for base in listed if isinstance(base, str) and base]
    stated = card.get("base_model_relation")
    if isinstance(stated, str) and stated in _RELATIONS:
        relation = stated
    elif "adapter_config.json" in commit.files:
        relation = "adapter"
    else:
        relation = "merge" if len(bases) > 1 else "finetune"
    return [tag for base in bases for tag in (f"base_model:{base}", f"base_model:{relation}:{base}")]


def _security_status(file: FakeFile, *, unsafe: bool) -> dict[str, Any]:
    pickle_scan = (
        {"highestSafetyLevel": "innocuous", "imports": []} if file.path.endswith(_PICKLE_SUFFIXES) else None
    )
    return {
        "status": "unsafe" if unsafe else "safe",
        "avScan": {"virusFound": unsafe, "virusNames": ["Fake.Test.Signature"] if unsafe else None},
        "pickleImportScan": pickle_scan,
    }


def _model_config(commit: Commit) -> dict[str, Any] | None:
    # The Hub shows a few keys of config.json in the model info.
    file = commit.files.get("config.json")
    if file is None or file.lfs or file.size > _MAX_PARSED_HEADER:
        return None
    try:
        config = json.loads(file.blob.read(0, file.size))
    except ValueError:
        return None
    if not isinstance(config, dict):
        return None
    return {k: config[k] for k in ("architectures", "model_type") if k in config}


def _safetensors_summary(commit: Commit) -> dict[str, Any] | None:
    """Parameter counts per dtype over the commit's safetensors files, read from their headers."""
    parameters: dict[str, int] = {}
    for file in commit.files.values():
        if file.path.endswith(".safetensors"):
            for dtype, count in _safetensors_parameters(file):
                parameters[dtype] = parameters.get(dtype, 0) + count
    if not parameters:
        return None
    return {"parameters": parameters, "total": sum(parameters.values())}


def _safetensors_parameters(file: FakeFile) -> list[tuple[str, int]]:
    if file.size < 8:
        return []
    (length,) = struct.unpack("<Q", file.blob.read(0, 8))
    if length > min(_MAX_PARSED_HEADER, file.size - 8):
        return []  # not a safetensors file (e.g. generated random bytes)
    try:
        header = json.loads(file.blob.read(8, length))
    except ValueError:
        return []
    if not isinstance(header, dict):
        return []
    counts: list[tuple[str, int]] = []
    for name, tensor in header.items():
        if (
            name == "__metadata__"
            or not isinstance(tensor, dict)
            or tensor.get("dtype") not in _SAFETENSORS_DTYPES
        ):
            continue
        count = 1
        for dim in tensor.get("shape", []):
            count *= int(dim)
        counts.append((str(tensor["dtype"]), count))
    return counts
