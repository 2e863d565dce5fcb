from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from mirror.cli.main import _parser
from mirror.config import DEFAULT_API_URL, available_cpus, command_line_environment, load_settings


def test_defaults_are_the_embedded_setup(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HUBGATE_CONFIG", raising=False)
    settings = load_settings()
    assert settings.upstream.endpoint == "https://huggingface.co"
    assert (settings.server.host, settings.server.port) == ("127.0.0.1", 8080)
    assert settings.database_url.startswith("sqlite+aiosqlite:///")
    assert settings.objects_path == settings.data_dir / "objects"


def test_precedence_toml_then_env_then_flags(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "hubgate.toml"
    config.write_text(
        '[server]\nport = 9000\nhost = "0.0.0.0"\n'
        '[upstream]\nendpoint = "http://toml.example/"\nref_ttl_s = 5\n'
    )
    monkeypatch.setenv("HUBGATE_UPSTREAM__ENDPOINT", "http://env.example")
    monkeypatch.setenv("HUBGATE_UPSTREAM__TOKEN", "hf_servicetoken")
    settings = load_settings(config, server={"port": 9100})
    assert settings.server.port == 9100  # flag beats file
    assert settings.server.host == "0.0.0.0"  # file beats default
    assert settings.upstream.endpoint == "http://env.example"  # env beats file
    assert settings.upstream.ref_ttl_s == 5
    assert settings.upstream.token is not None
    assert "hf_servicetoken" not in repr(settings)  # secrets never print


def test_config_file_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "c.toml"
    config.write_text('data_dir = "/srv/hubgate"\n')
    monkeypatch.setenv("HUBGATE_CONFIG", str(config))
    assert load_settings().data_dir == Path("/srv/hubgate")


@pytest.mark.parametrize(
    "content",
    [
        '[server]\nport = "eighty"\n',
        "[upstream]\nendpoint = 'ftp://x'\n",
        "[nosuchsection]\na = 1\n",
        "[server]\nbogus = 1\n",
    ],
)
def test_bad_config_is_refused_clearly(tmp_path: Path, content: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HUBGATE_CONFIG", raising=False)
    config = tmp_path / "bad.toml"
    config.write_text(content)
    with pytest.raises(ValidationError):
        load_settings(config)


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load_settings(tmp_path / "absent.toml")


def test_scanner_workers_default_to_the_cpus_this_process_may_use(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HUBGATE_SCANNING__WORKERS", raising=False)
    assert load_settings().scanning.workers == min(64, available_cpus())
    assert 1 <= available_cpus() <= len(os.sched_getaffinity(0))


@pytest.mark.parametrize(
    ("files", "limit"),
    [
        ({"cpu.max": "150000 100000\n"}, 2),  # a container limited to 1.5 CPUs: two scanners
        ({"cpu.max": "50000 100000\n"}, 1),
        ({"cpu.max": "max 100000\n"}, None),  # no quota: the affinity mask decides
        ({"cpu/cpu.cfs_quota_us": "300000\n", "cpu/cpu.cfs_period_us": "100000\n"}, 3),  # cgroup v1
        ({"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"}, None),
        ({}, None),
    ],
)
def test_a_cgroup_cpu_quota_lowers_the_count(
    tmp_path: Path, files: dict[str, str], limit: int | None
) -> None:
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    affinity = len(os.sched_getaffinity(0))
    expected = affinity if limit is None else min(affinity, limit)
    assert available_cpus(tmp_path) == expected


def test_client_commands_take_their_defaults_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUBGATE_URL", "https://hubgate.internal")
    monkeypatch.setenv("HUBGATE_TOKEN", "hgt_from_env")
    monkeypatch.setenv("HF_TOKEN", "hf_from_env")
    monkeypatch.setenv("USER", "alice")
    parser = _parser()
    review = parser.parse_args(["review", "list"])
    assert (review.url, review.token) == ("https://hubgate.internal", "hgt_from_env")
    check = parser.parse_args(["check", "models.lock"])
    assert (check.url, check.token, check.hf_token) == (
        "https://hubgate.internal",
        "hgt_from_env",
        "hf_from_env",
    )
    assert parser.parse_args(["pin", "acme/model"]).by == "alice"
    flagged = parser.parse_args(["review", "list", "--url", "http://other:8080", "--token", "hgt_flag"])
    assert (flagged.url, flagged.token) == ("http://other:8080", "hgt_flag")


def test_client_commands_default_to_a_local_hubgate(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HUBGATE_URL", "HUBGATE_TOKEN", "HF_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    environment = command_line_environment()
    assert environment.api_url == DEFAULT_API_URL == "http://127.0.0.1:8080"
    assert environment.api_token is None
    assert environment.hub_token is None
