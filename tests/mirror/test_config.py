from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from mirror.config import load_settings


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
