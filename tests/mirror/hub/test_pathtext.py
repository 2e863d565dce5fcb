"""Hidden characters in paths: found, escaped, refused by the routes, and escaped alike by the page."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from importlib import resources

import pytest

from mirror.errors import InvalidPath
from mirror.hub.pathtext import hidden_characters, visible
from mirror.hub.rules import parse_path

HIDDEN = [
    "\u202a", "\u202b", "\u202c", "\u202d", "\u202e",  # bidi embeddings and overrides
    "\u2066", "\u2067", "\u2068", "\u2069",  # bidi isolates
    "\u200e", "\u200f", "\u061c",  # direction marks
    "\u200b", "\u200c", "\u200d", "\u2060", "\ufeff",  # zero-width
    "\U000e0041",  # a tag character ("ASCII smuggling")
    "\u2028", "\u2029",  # line and paragraph separators
    "\u3164", "\u2800",  # blank letters
    "\x00", "\x1b", "\x7f", "\x85", "\x9f",  # C0, DEL, C1
]  # fmt: skip
SHOWN = ["model.safetensors", "données/é.txt", "模型/权重.bin", "a b-c_d.e~f", "emoji-🤗.md", "ﻻ.txt"]


@pytest.mark.parametrize("char", HIDDEN)
def test_every_hidden_character_is_found_escaped_and_refused(char: str) -> None:
    code = f"U+{ord(char):04X}"
    path = f"dir/name{char}.txt"
    assert hidden_characters(path) == (code,)
    assert visible(path) == f"dir/name<{code}>.txt"
    with pytest.raises(InvalidPath, match=re.escape(code)):
        parse_path(path)


@pytest.mark.parametrize("path", SHOWN)
def test_ordinary_names_in_any_script_pass(path: str) -> None:
    assert hidden_characters(path) == ()
    assert visible(path) == path
    assert parse_path(path) == path


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_the_review_page_escapes_exactly_like_the_server() -> None:
    # The page's own code (ui.js, a module: its `export` is dropped to run the function alone).
    source = resources.files("mirror.http").joinpath("web", "static", "ui.js").read_text()
    pattern = re.search(r"^const HIDDEN_CHARACTERS = .*;$", source, re.M)
    function = re.search(r"^export (function visiblePath\(text\) \{.*?^\})$", source, re.M | re.S)
    assert pattern is not None
    assert function is not None
    samples = [f"dir/name{char}.txt" for char in HIDDEN] + SHOWN
    script = (
        f"{pattern.group(0)}\n{function.group(1)}\n"
        f"console.log(JSON.stringify({json.dumps(samples)}.map(visiblePath)));"
    )
    result = subprocess.run(["node", "-e", script], capture_output=True, text=True, timeout=60, check=True)
    assert json.loads(result.stdout) == [visible(sample) for sample in samples]
