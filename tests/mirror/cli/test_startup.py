"""The command line starts without loading the server: `hubgate check` runs in CI jobs and `hubgate review`
in shells, and importing aiohttp's server, SQLAlchemy, boto3 and the scanners first costs seconds of CPU."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys

import pytest

HEAVY = ("aiohttp", "sqlalchemy", "boto3", "alembic", "scanners", "mirror.app", "mirror.policy.engine")


def _loaded_after(script: str) -> list[str]:
    probe = f"import json, sys\n{script}\nprint(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))"
    command = [sys.executable, "-c", probe]
    done = subprocess.run(command, capture_output=True, text=True, check=True, timeout=60)
    loaded: list[str] = json.loads(done.stdout.splitlines()[-1])
    return loaded


def test_parsing_any_command_line_loads_nothing_heavy() -> None:
    assert _loaded_after("from mirror.cli.main import _parser\n_parser()") == []


@pytest.mark.parametrize(
    "argv",
    [
        ["review", "list", "--url", "http://127.0.0.1:9", "--token", "hgt_x"],
        ["check", "--url", "http://127.0.0.1:9", "--token", "hgt_x", "missing.lock"],
    ],
)
def test_commands_that_talk_to_the_api_load_nothing_heavy(argv: list[str]) -> None:
    # Nothing listens on port 9: the command fails, having loaded only what talking to the API needs.
    script = f"from mirror.cli import main\ntry:\n    main({argv!r})\nexcept SystemExit:\n    pass"
    assert _loaded_after(script) == []


def test_every_command_names_a_function_that_exists() -> None:
    # The module itself (mirror.cli exports its `main` function under the same name).
    cli_main = importlib.import_module("mirror.cli.main")
    cli_main._parser()
    assert len(set(cli_main.LOCAL_TARGETS)) >= 12
    for target in set(cli_main.LOCAL_TARGETS):
        module, _, name = target.partition(":")
        assert callable(getattr(importlib.import_module(module), name)), target
