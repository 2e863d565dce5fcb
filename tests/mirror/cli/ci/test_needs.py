"""Which files a reference makes the code fetch."""

from __future__ import annotations

from mirror.cli.ci.needs import loader_files, matching, needed_paths
from mirror.cli.ci.references import Reference

FILES = (
    ".gitattributes",
    "README.md",
    "config.json",
    "configuration_x.py",
    "fp16/model.safetensors",
    "merges.txt",
    "model.safetensors",
    "onnx/model.onnx",
    "pytorch_model.bin",
    "tokenizer.json",
)


def _ref(call: str, **fields: object) -> Reference:
    return Reference(repo_id="acme/x", revision=None, file="a.py", line=1, call=call, **fields)  # type: ignore[arg-type]


def test_hf_hub_download_needs_its_file_in_its_subfolder() -> None:
    assert needed_paths(_ref("hf_hub_download", filename="config.json"), FILES) == ("config.json",)
    ref = _ref("hf_hub_download", filename="model.safetensors", subfolder="fp16")
    assert needed_paths(ref, FILES) == ("fp16/model.safetensors",)
    assert needed_paths(_ref("hf_hub_download", filename="absent.bin"), FILES) == ("absent.bin",)
    assert needed_paths(_ref("hf_hub_download"), FILES) == FILES  # the name is in a variable


def test_snapshot_download_follows_its_patterns() -> None:
    assert needed_paths(_ref("snapshot_download"), FILES) == FILES
    ref = _ref("snapshot_download", allow_patterns=("*.json", "onnx/"), ignore_patterns=("tokenizer*",))
    assert needed_paths(ref, FILES) == ("config.json", "onnx/model.onnx")


def test_a_loader_skips_docs_alternative_weights_and_remote_code_unless_trusted() -> None:
    needed = needed_paths(_ref("from_pretrained"), FILES)
    assert needed == (
        "config.json",
        "fp16/model.safetensors",
        "merges.txt",
        "model.safetensors",
        "tokenizer.json",
    )
    trusted = needed_paths(_ref("from_pretrained", trust_remote_code=True), FILES)
    assert "configuration_x.py" in trusted


def test_without_safetensors_a_loader_needs_the_pickle_weights() -> None:
    assert loader_files(("config.json", "pytorch_model.bin")) == ("config.json", "pytorch_model.bin")


def test_matching_treats_a_trailing_slash_as_the_folder() -> None:
    assert matching(FILES, ("onnx/",)) == ("onnx/model.onnx",)
    assert matching(FILES, None, ("*.md", ".git*")) == tuple(
        f for f in FILES if f not in (".gitattributes", "README.md")
    )
