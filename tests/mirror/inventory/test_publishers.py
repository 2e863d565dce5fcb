"""The publisher table: the shipped entries, an operator's file merged over them, and bad files refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from mirror.app import create_app
from mirror.cli import main
from mirror.config import load_settings
from mirror.inventory.publishers import UNKNOWN, PublisherTableError, load_publishers

# The major publishers the issue names, with what a security lead expects to read for them.
SHIPPED = {
    "Qwen/Qwen3-0.6B": ("Alibaba Cloud (Qwen team)", "CN"),
    "01-ai/Yi-1.5-9B": ("01.AI", "CN"),
    "baichuan-inc/Baichuan2-7B-Chat": ("Baichuan Intelligent Technology", "CN"),
    "internlm/internlm2_5-7b-chat": ("Shanghai AI Laboratory", "CN"),
    "THUDM/chatglm3-6b": ("Tsinghua University KEG / Zhipu AI", "CN"),
    "zai-org/GLM-4.5": ("Z.ai (Zhipu AI)", "CN"),
    "deepseek-ai/DeepSeek-R1": ("DeepSeek", "CN"),
    "meta-llama/Llama-3.1-8B": ("Meta", "US"),
    "mistralai/Mistral-7B-v0.1": ("Mistral AI", "FR"),
    "google/gemma-2-2b": ("Google", "US"),
    "microsoft/phi-4": ("Microsoft", "US"),
}


@pytest.mark.parametrize(("repo_id", "expected"), SHIPPED.items())
def test_the_shipped_table_knows_the_major_publishers(repo_id: str, expected: tuple[str, str]) -> None:
    publisher = load_publishers().lookup(repo_id)
    assert publisher.known
    assert (publisher.organisation, publisher.country) == expected
    assert publisher.family


def test_namespaces_match_without_regard_to_case_and_unknown_ones_say_so() -> None:
    table = load_publishers()
    assert table.lookup("qwen/Qwen3-0.6B").org == "Qwen"
    stranger = table.lookup("someone/model")
    assert (stranger.org, stranger.organisation, stranger.country, stranger.family, stranger.known) == (
        "someone",
        UNKNOWN,
        UNKNOWN,
        UNKNOWN,
        False,
    )
    assert table.lookup("gpt2").country == UNKNOWN  # a legacy id without a namespace


def test_an_operator_file_replaces_and_adds_entries(tmp_path: Path) -> None:
    override = tmp_path / "publishers.toml"
    override.write_text(
        '[publishers.qwen]\norganisation = "Alibaba (internal mirror team)"\n'
        'country = "CN"\nfamily = "Qwen3"\n\n'
        '[publishers.acme-ai]\norganisation = "ACME AI"\ncountry = "DE"\nfamily = "Roadrunner"\n'
    )
    shipped = load_publishers()
    table = load_publishers(override)
    replaced = table.lookup("Qwen/Qwen3-0.6B")
    assert (replaced.organisation, replaced.family) == ("Alibaba (internal mirror team)", "Qwen3")
    assert table.lookup("acme-ai/x").country == "DE"
    assert table.lookup("meta-llama/x") == shipped.lookup("meta-llama/x")
    assert len(table) == len(shipped) + 1  # `qwen` replaced `Qwen` instead of standing beside it


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("[publishers.x\n", "not valid TOML"),
        ('[publishers.x]\norganisation = "X"\ncountry = "CN"\n', "`family` must be a non-empty string"),
        ('[publishers.x]\norganisation = "X"\ncountry = "China"\nfamily = "F"\n', "ISO 3166-1 alpha-2"),
        ('[publishers.x]\norganisation = "X"\ncountry = "cn"\nfamily = "F"\n', "ISO 3166-1 alpha-2"),
        (
            '[publishers.x]\norganisation = "X"\ncountry = "CN"\nfamily = "F"\nurl = "u"\n',
            "unknown field(s) url",
        ),
        ('[publishers."bad org"]\norganisation = "X"\ncountry = "CN"\nfamily = "F"\n', "not a Hub namespace"),
        ('[publishers."a/b"]\norganisation = "X"\ncountry = "CN"\nfamily = "F"\n', "namespace alone"),
        ('[orgs.x]\norganisation = "X"\n', "unknown top-level key(s) orgs"),
        ("[publishers]\nx = 1\n", "must be a table"),
        (
            '[publishers.Acme]\norganisation = "A"\ncountry = "US"\nfamily = "F"\n'
            '[publishers.acme]\norganisation = "B"\ncountry = "US"\nfamily = "F"\n',
            "repeats [publishers.Acme]",
        ),
    ],
)
def test_a_bad_operator_file_is_refused_with_where_and_why(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "publishers.toml"
    path.write_text(text)
    with pytest.raises(PublisherTableError) as caught:
        load_publishers(path)
    assert str(path) in str(caught.value)
    assert problem in str(caught.value)


def test_a_missing_operator_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PublisherTableError, match="cannot be read"):
        load_publishers(tmp_path / "nope.toml")


def test_hubgate_refuses_to_start_on_a_bad_publisher_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "publishers.toml"
    path.write_text('[publishers.x]\ncountry = "CN"\n')
    settings = load_settings(None, data_dir=tmp_path, inventory={"publishers_path": path})
    with pytest.raises(PublisherTableError, match="organisation"):
        create_app(settings)
    # The CLI reports it as a one-line error, not a traceback.
    monkeypatch.setenv("HUBGATE_INVENTORY__PUBLISHERS_PATH", str(path))
    assert main(["report", "origins", "--data-dir", str(tmp_path)]) == 2
    assert f"publisher file {path}" in capsys.readouterr().err
