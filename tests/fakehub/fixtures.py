"""Ready-made repos and users for the whole suite, and a demo hub holding them all.

Everything but the big generated file builds in milliseconds; the big file is generated once per
machine (see blobs.py) and then only re-read.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np

from tests.fakehub.files import FakeFile
from tests.fakehub.hub import FakeHub
from tests.fakehub.repo import FakeRepo, RepoSettings
from tests.fakehub.safetensors_format import safetensors_bytes, single_tensor_prefix

ALICE_TOKEN = "hf_fakehubAliceReadsGatedAndPrivate0001"  # may read the gated and the private repo
BOB_TOKEN = "hf_fakehubBobIsAValidUserWithNoGrants0002"  # valid, but was granted nothing
USERS = {ALICE_TOKEN: "alice", BOB_TOKEN: "bob"}

MODEL_ID = "acme/tiny-model"
LEGACY_MODEL_ID = "tiny-legacy"
GATED_MODEL_ID = "acme/gated-model"
PRIVATE_MODEL_ID = "acme/private-model"
DATASET_ID = "acme/tiny-dataset"
SPACE_ID = "acme/tiny-space"
MANY_FILES_ID = "acme/many-files"
BIG_MODEL_ID = "acme/big-model"
BASE_MODEL_ID = "acme/base-model"  # the base_model of MODEL_ID
# Aliases of MODEL_ID in the demo hub: a legacy one-segment id (as `gpt2` names `openai-community/gpt2`)
# and the id it had before a rename. Both answer a relative 307 to MODEL_ID.
LEGACY_ALIAS_ID = "tiny-model"
OLD_MODEL_ID = "acme/tiny-model-v0"

MANY_FILES_COUNT = 1500
BIG_FILE_SIZE = 50 * 1000 * 1000
BIG_FILE_PATH = "model.safetensors"

GITATTRIBUTES = "".join(
    f"*{suffix} filter=lfs diff=lfs merge=lfs -text\n"
    for suffix in (".bin", ".gguf", ".h5", ".npy", ".onnx", ".parquet", ".pkl", ".pt", ".safetensors")
)


def readme(card_data: Mapping[str, Any], body: str) -> str:
    """A README.md whose YAML front matter holds `card_data` (strings, numbers, booleans, lists)."""
    lines = ["---"]
    for key, value in card_data.items():
        if isinstance(value, list):
            lines.append(f"{key}:")
            lines.extend(f"- {json.dumps(item)}" for item in value)
        else:
            lines.append(f"{key}: {json.dumps(value)}")
    return "\n".join([*lines, "---", "", body, ""])


def tiny_weights() -> bytes:
    """A real (small) safetensors file: loads with the `safetensors` package."""
    return safetensors_bytes(
        {
            "embed.weight": np.arange(16 * 8, dtype=np.float32).reshape(16, 8),
            "head.bias": np.zeros(8, dtype=np.float32),
        }
    )


def tiny_onnx_model() -> bytes:
    """A minimal well-formed ONNX ModelProto: ir_version 8, a producer and an opset import."""
    producer = b"fakehub"
    opset = b"\x10\x11"  # OperatorSetIdProto.version = 17 (default domain)
    return b"\x08\x08" + b"\x12" + bytes([len(producer)]) + producer + b"\x42" + bytes([len(opset)]) + opset


def tiny_model_repo(repo_id: str = MODEL_ID) -> FakeRepo:
    """Text files, an LFS safetensors, nested folders; tag `v1.0` (first commit), `main` (second commit),
    branch `dev` and `refs/pr/1`, each with different content."""
    card = {"license": "apache-2.0", "base_model": "acme/base-model", "library_name": "transformers",
            "tags": ["text-classification"]}  # fmt: skip
    config = {"architectures": ["TinyForSequenceClassification"], "model_type": "tiny", "hidden_size": 8}
    repo = FakeRepo(
        repo_id,
        [
            FakeFile.text(".gitattributes", GITATTRIBUTES),
            FakeFile.text("README.md", readme(card, "# Tiny model\n\nA fixture of the fake Hub.")),
            FakeFile.text("config.json", json.dumps(config, indent=2)),
            FakeFile.text("tokenizer.json", json.dumps({"version": "1.0", "model": {"vocab": {"a": 0}}})),
            FakeFile.from_bytes("model.safetensors", tiny_weights()),
            FakeFile.from_bytes("onnx/model.onnx", tiny_onnx_model()),
            FakeFile.text("tokenizer/vocab.txt", "[PAD]\n[UNK]\na\nb\n"),
            FakeFile.text("docs/nested/deep/notes.md", "Deeply nested notes.\n"),
        ],
        settings=RepoSettings(card_data=card, tags=["text-classification"], library_name="transformers",
                              pipeline_tag="text-classification", downloads=1234, likes=5),
    )  # fmt: skip
    repo.create_tag("v1.0")
    repo.push(
        [
            FakeFile.text("config.json", json.dumps({**config, "hidden_size": 16}, indent=2)),
            FakeFile.text("generation_config.json", json.dumps({"max_length": 32})),
        ],
        message="Bump hidden size",
    )
    repo.push(
        [
            FakeFile.text("config.json", json.dumps({**config, "dev": True})),
            FakeFile.text("dev-only.txt", "dev\n"),
        ],
        branch="dev",
        message="Work in progress",
    )
    repo.open_pull_request(
        [FakeFile.text("README.md", readme(card, "# Tiny model\n\nImproved by a PR.")),
         FakeFile.text("pr-notes.md", "Proposed change.\n")],
        message="Improve the model card",
    )  # fmt: skip
    return repo


def base_model_repo() -> FakeRepo:
    """The base model the tiny model says it was fine-tuned from (same licence)."""
    card = {"license": "apache-2.0"}
    return FakeRepo(
        BASE_MODEL_ID,
        [FakeFile.text("README.md", readme(card, "# Base model")), FakeFile.text("config.json", "{}")],
        settings=RepoSettings(card_data=card),
    )


def legacy_model_repo() -> FakeRepo:
    """A one-segment repo id, like `gpt2` or `bert-base-uncased`."""
    return FakeRepo(
        LEGACY_MODEL_ID,
        [
            FakeFile.text("config.json", '{"model_type": "legacy"}'),
            FakeFile.from_bytes("model.safetensors", tiny_weights()),
        ],
        settings=RepoSettings(card_data={"license": "mit"}),
    )


def gated_model_repo() -> FakeRepo:
    """Gated ("auto"); alice accepted the conditions, bob did not."""
    card = {"license": "apache-2.0", "extra_gated_prompt": "Accept the terms."}
    return FakeRepo(
        GATED_MODEL_ID,
        [
            FakeFile.text("README.md", readme(card, "# Gated model")),
            FakeFile.text("config.json", '{"model_type": "gated"}'),
            FakeFile.from_bytes("model.safetensors", tiny_weights()),
        ],
        settings=RepoSettings(gated="auto", allowed_tokens={ALICE_TOKEN}, card_data=card),
    )


def private_model_repo() -> FakeRepo:
    """Private; only alice may read it."""
    return FakeRepo(
        PRIVATE_MODEL_ID,
        [
            FakeFile.text("config.json", '{"model_type": "private"}'),
            FakeFile.from_bytes("model.safetensors", tiny_weights()),
        ],
        settings=RepoSettings(private=True, allowed_tokens={ALICE_TOKEN}, card_data={"license": "mit"}),
    )


def dataset_repo() -> FakeRepo:
    card = {"license": "cc-by-4.0", "pretty_name": "Tiny dataset", "task_categories": ["text-classification"]}
    rows = "".join(json.dumps({"text": f"row {i}", "label": i % 2}) + "\n" for i in range(20))
    return FakeRepo(
        DATASET_ID,
        [
            FakeFile.text(".gitattributes", GITATTRIBUTES),
            FakeFile.text("README.md", readme(card, "# Tiny dataset")),
            FakeFile.from_bytes("data/train-00000-of-00001.parquet", b"PAR1" + bytes(range(200)) + b"PAR1"),
            FakeFile.text("data/test.jsonl", rows),
        ],
        repo_type="dataset",
        settings=RepoSettings(card_data=card, tags=["task_categories:text-classification"]),
    )


def space_repo() -> FakeRepo:
    card = {"title": "Tiny space", "sdk": "gradio", "license": "mit"}
    return FakeRepo(
        SPACE_ID,
        [
            FakeFile.text("README.md", readme(card, "# Tiny space")),
            FakeFile.text("app.py", "print('hello')\n"),
        ],
        repo_type="space",
        settings=RepoSettings(card_data=card),
    )


def many_files_repo(count: int = MANY_FILES_COUNT) -> FakeRepo:
    """`count` small files in folders of 100: a recursive listing spans several tree pages."""
    files = [FakeFile.text(f"data/part-{i // 100:02d}/row-{i:05d}.txt", f"row {i}\n") for i in range(count)]
    return FakeRepo(
        MANY_FILES_ID,
        [FakeFile.text("README.md", "# Many files\n"), *files],
        settings=RepoSettings(card_data={"license": "mit"}),
    )


def big_model_repo(size: int = BIG_FILE_SIZE, *, seed: int = 1) -> FakeRepo:
    """One generated LFS file of `size` bytes: a valid safetensors header, then random weights."""
    weights = FakeFile.generated(BIG_FILE_PATH, size, seed=seed, prefix=single_tensor_prefix(size))
    return FakeRepo(
        BIG_MODEL_ID,
        [FakeFile.text("config.json", '{"model_type": "big"}'), weights],
        settings=RepoSettings(card_data={"license": "apache-2.0"}),
    )


def build_demo_hub(
    *, big_file_size: int | None = None, many_files: int = MANY_FILES_COUNT, xet_hints: bool = True
) -> FakeHub:
    """Every fixture repo, alice and bob, the aliases of MODEL_ID; the big repo only when `big_file_size`
    is given. Compression and rate limits are on, at the real Hub's defaults."""
    repos = [
        tiny_model_repo(),
        base_model_repo(),
        legacy_model_repo(),
        gated_model_repo(),
        private_model_repo(),
        dataset_repo(),
        space_repo(),
        many_files_repo(many_files),
    ]
    if big_file_size is not None:
        repos.append(big_model_repo(big_file_size))
    hub = FakeHub(repos, users=USERS, xet_hints=xet_hints)
    hub.add_alias("model", LEGACY_ALIAS_ID, MODEL_ID)
    hub.add_alias("model", OLD_MODEL_ID, MODEL_ID)
    return hub
