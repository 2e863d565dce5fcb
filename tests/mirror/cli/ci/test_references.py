"""The code-tree finder: which literals count as model references, with their file and line."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from mirror.cli.ci.references import (
    Reference,
    find_references,
    json_references,
    python_references,
    yaml_references,
)

PYTHON = textwrap.dedent(
    """\
    from transformers import AutoModel, AutoTokenizer, pipeline
    from huggingface_hub import hf_hub_download, snapshot_download
    import transformers

    model = AutoModel.from_pretrained("acme/encoder", revision="v1.0")
    tok = AutoTokenizer.from_pretrained(pretrained_model_name_or_path="acme/encoder")
    classifier = pipeline("text-classification", model="acme/classifier")
    generator = transformers.pipeline(task="text-generation", model="acme/generator", trust_remote_code=True)
    weights = hf_hub_download("acme/weights", "model.safetensors", subfolder="fp16")
    config = hf_hub_download(repo_id="acme/weights", filename="config.json", repo_type="model")
    data = snapshot_download("acme/corpus", repo_type="dataset", allow_patterns=["*.parquet", "meta/"])
    legacy = AutoModel.from_pretrained("gpt2")
    """
)


def _calls(found: list[Reference]) -> list[tuple[str, int, str, str | None]]:
    return [(ref.repo_id, ref.line, ref.call, ref.revision) for ref in found]


def test_python_calls_positional_and_keyword_with_their_lines() -> None:
    found = sorted(python_references(PYTHON, "train.py"), key=lambda ref: ref.line)
    assert _calls(found) == [
        ("acme/encoder", 5, "from_pretrained", "v1.0"),
        ("acme/encoder", 6, "from_pretrained", None),
        ("acme/classifier", 7, "pipeline", None),
        ("acme/generator", 8, "pipeline", None),
        ("acme/weights", 9, "hf_hub_download", None),
        ("acme/weights", 10, "hf_hub_download", None),
        ("acme/corpus", 11, "snapshot_download", None),
        ("gpt2", 12, "from_pretrained", None),
    ]
    assert all(ref.file == "train.py" for ref in found)
    assert found[3].trust_remote_code
    assert not found[2].trust_remote_code
    assert (found[4].filename, found[4].subfolder) == ("model.safetensors", "fp16")
    assert found[5].filename == "config.json"
    assert (found[6].repo_type, found[6].allow_patterns) == ("dataset", ("*.parquet", "meta/"))


def test_python_ignores_what_only_running_the_code_could_tell() -> None:
    source = textwrap.dedent(
        """\
        import os
        name = "acme/in-a-variable"
        AutoModel.from_pretrained(name)
        AutoModel.from_pretrained(f"acme/{os.environ['MODEL']}")
        AutoModel.from_pretrained(os.environ["MODEL"])
        AutoModel.from_pretrained(*["acme/starred"])
        pipeline("text-generation")  # the task's default model: not named here
        print("acme/just-a-string")
        AutoModel.from_pretrained("./checkpoints/best")
        AutoModel.from_pretrained("/models/local")
        AutoModel.from_pretrained("~/models/x")
        AutoModel.from_pretrained("not a repo id!")
        AutoModel.from_pretrained("a/b/c")
        """
    )
    assert python_references(source, "x.py") == []


def test_python_revision_must_be_a_valid_revision_to_count() -> None:
    found = python_references('AutoModel.from_pretrained("acme/x", revision="../../etc")\n', "x.py")
    assert _calls(found) == [("acme/x", 1, "from_pretrained", None)]


def test_yaml_config_keys_with_sibling_revision() -> None:
    text = textwrap.dedent(
        """\
        model:
          model_name_or_path: acme/base-7b
          revision: 0123456789abcdef0123456789abcdef01234567
        tokenizer_name: acme/tokenizer
        trainer:
          model: linear            # a bare word is not a repo
          repo_id: ./local/path
        datasets:
          - base_model: acme/other
        """
    )
    found = yaml_references(text, "configs/train.yaml")
    assert sorted(_calls(found)) == [
        ("acme/base-7b", 2, "config", "0123456789abcdef0123456789abcdef01234567"),
        ("acme/other", 9, "config", None),
        ("acme/tokenizer", 4, "config", None),
    ]


def test_yaml_aliases_are_walked_once() -> None:
    # A billion-laughs shape: every level doubles the references if aliases were expanded.
    lines = ["a0: &a0 {model: acme/x}"]
    lines += [f"a{i}: &a{i} [*a{i - 1}, *a{i - 1}]" for i in range(1, 40)]
    found = yaml_references("\n".join(lines) + "\n", "bomb.yaml")
    assert _calls(found) == [("acme/x", 1, "config", None)]


def test_json_config_lines_and_revision() -> None:
    text = (
        '{\n  "base_model_name_or_path": "acme/base",\n  "revision": "v2",\n'
        '  "peft_type": "LORA",\n  "nested": {"model": "acme/inner"}\n}\n'
    )
    found = json_references(text, "adapter_config.json")
    assert sorted(_calls(found)) == [("acme/base", 2, "config", "v2"), ("acme/inner", 5, "config", None)]


def test_find_references_walks_a_tree_skipping_hidden_folders_local_paths_and_bad_files(
    tmp_path: Path,
) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "app.py").write_text('AutoModel.from_pretrained("acme/app")\n')
    (tmp_path / ".venv" / "lib").mkdir(parents=True)
    (tmp_path / ".venv" / "lib" / "dep.py").write_text('AutoModel.from_pretrained("acme/vendored")\n')
    (tmp_path / "node_modules").mkdir()
    (tmp_path / "node_modules" / "x.json").write_text('{"model": "acme/npm"}')
    # A folder that looks like an id but exists next to the code: a local checkpoint.
    (tmp_path / "src" / "acme" / "local").mkdir(parents=True)
    (tmp_path / "src" / "local.py").write_text('AutoModel.from_pretrained("acme/local")\n')
    (tmp_path / "broken.py").write_text("def (:\n")
    (tmp_path / "broken.json").write_text('{"model": "acme/x",}')
    (tmp_path / "conf.yml").write_text("base_model: acme/from-yaml\n")
    found = find_references(tmp_path)
    assert [(ref.file, ref.line, ref.repo_id) for ref in found.references] == [
        ("conf.yml", 1, "acme/from-yaml"),
        ("src/app.py", 1, "acme/app"),
    ]
    assert sorted(skipped.file for skipped in found.skipped) == ["broken.json", "broken.py"]


@pytest.mark.parametrize("name", ["model.py", "config.yaml", "config.json"])
def test_a_single_file_can_be_scanned(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    contents = {
        "model.py": 'AutoModel.from_pretrained("acme/one")\n',
        "config.yaml": "model: acme/one\n",
        "config.json": '{"model": "acme/one"}\n',
    }
    path.write_text(contents[name])
    assert [(ref.file, ref.repo_id) for ref in find_references(path).references] == [(name, "acme/one")]


def test_a_file_built_to_crash_the_parser_is_skipped_not_fatal(tmp_path: Path) -> None:
    (tmp_path / "deep.py").write_text("x = " + "(" * 200_000 + ")" * 200_000 + "\n")
    (tmp_path / "ok.py").write_text('AutoModel.from_pretrained("acme/ok")\n')
    found = find_references(tmp_path)
    assert [ref.repo_id for ref in found.references] == ["acme/ok"]
    assert [skipped.file for skipped in found.skipped] == ["deep.py"]
