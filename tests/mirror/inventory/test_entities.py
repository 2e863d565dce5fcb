"""The entity list: TOML and CSV, validated with clear errors, matched by namespace (globs too), and
watched: a change is picked up without a restart, an invalid file never replaces a valid list."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from mirror.inventory.entities import (
    EntityList,
    EntityListError,
    EntityListFile,
    load_entities,
    parse_entities,
)
from mirror.policy.origins import EntityMark

TOML = """
[[entities]]
org = "some-entity"
name = "Some Entity Ltd."
list = "export-control"
note = "BIS Entity List, 2025-01-15"

[[entities]]
org = "shadow-lab*"
name = "Shadow Lab"
list = "sanctions"
"""

CSV = """# exported from the legal team's sheet
org,name,list,note
some-entity,Some Entity Ltd.,export-control,"BIS Entity List, 2025-01-15"
shadow-lab*,Shadow Lab,sanctions,
"""


def test_toml_and_csv_say_the_same() -> None:
    from_toml = parse_entities(TOML, source="t", csv_format=False)
    from_csv = parse_entities(CSV, source="c", csv_format=True)
    assert from_toml.entities == from_csv.entities
    assert from_toml.digest == from_csv.digest
    assert len(from_toml) == 2


def test_namespaces_match_without_case_and_by_glob() -> None:
    entities = parse_entities(TOML, source="t", csv_format=False)
    assert entities.marks("SOME-ENTITY") == (EntityMark("export-control", "Some Entity Ltd."),)
    assert entities.marks("shadow-lab-research") == (EntityMark("sanctions", "Shadow Lab"),)
    assert entities.marks("some-entity-fan") == ()  # no glob, no match
    assert entities.marks("") == ()


@pytest.mark.parametrize(
    ("text", "csv_format", "problem"),
    [
        ("[[entities]]\norg = 'x'\nname = 'X'\n", False, "`list` must not be empty"),
        ("[[entities]]\norg = 'a/b'\nname = 'X'\nlist = 'l'\n", False, "must be a Hub namespace"),
        ("[[entities]]\norg = '*'\nname = 'X'\nlist = 'l'\n", False, "would name every namespace"),
        ("[[entities]]\norg = 'x'\nname = 'X'\nlist = 'l'\ncountry = 'CN'\n", False, "unknown field"),
        ("[entity]\norg = 'x'\n", False, "unknown top-level key"),
        ("not = = toml", False, "not valid TOML"),
        (
            "[[entities]]\norg = 'x'\nname = 'X'\nlist = 'l'\n"
            "[[entities]]\norg = 'X'\nname = 'Y'\nlist = 'l'\n",
            False,
            "repeats [[entities]] #1",
        ),
        ("org,name\nx,X\n", True, "missing: list"),
        ("org,name,list,colour\nx,X,l,red\n", True, "unknown: colour"),
        ("org,name,list\nx,X,l,extra\n", True, "more cells than the header"),
        ("org,name,list\nx,,l\n", True, "line 2: `name` must not be empty"),
    ],
)
def test_invalid_lists_are_refused_saying_where(text: str, csv_format: bool, problem: str) -> None:
    with pytest.raises(EntityListError, match=r"list\.toml") as caught:
        parse_entities(text, source="list.toml", csv_format=csv_format)
    assert problem in str(caught.value)


def test_an_unreadable_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(EntityListError, match="cannot be read"):
        load_entities(tmp_path / "missing.toml")
    (tmp_path / "latin1.csv").write_bytes(b"org,name,list\nx,Soci\xe9t\xe9,l\n")
    with pytest.raises(EntityListError, match="not UTF-8"):
        load_entities(tmp_path / "latin1.csv")


def _rewrite(path: Path, text: str) -> None:
    path.write_text(text)
    # Some filesystems keep a coarse modification time: make each write visible to the watcher.
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))


def _settled(watched: EntityListFile) -> EntityList | None:
    """What the watcher takes: new content is taken on the check after the one that saw it first."""
    first = watched.check()
    assert first is None  # never taken at first sight: it may be halfway through a write
    return watched.check()


def test_the_watcher_reloads_changes_and_keeps_the_last_valid_list(tmp_path: Path) -> None:
    path = tmp_path / "entities.toml"
    path.write_text(TOML)
    invalid: list[int] = []
    watched = EntityListFile(path, current=load_entities(path), on_invalid=lambda: invalid.append(1))
    assert watched.check() is None  # nothing changed

    _rewrite(path, TOML + "\n# a comment: same entries\n")
    assert _settled(watched) is None  # new content, same list: nothing to re-evaluate

    _rewrite(path, TOML.replace("shadow-lab*", "shadow-lab"))
    changed = _settled(watched)
    assert changed is not None
    assert changed.marks("shadow-lab-research") == ()
    assert watched.current is changed

    _rewrite(path, "[[entities]]\norg = 'x'\n")  # a typo: never an empty list
    assert _settled(watched) is None
    assert watched.current is changed
    assert invalid == [1]
    _rewrite(path, "[[entities]]\norg = 'x'\n")  # the same bad content again: reported once
    assert watched.check() is None
    assert invalid == [1]

    path.unlink()  # gone: the list stays
    assert watched.check() is None
    assert watched.check() is None
    assert watched.current is changed
    assert invalid == [1, 1]

    path.write_text("")  # emptied on purpose: a valid, empty list
    emptied = _settled(watched)
    assert emptied is not None
    assert len(emptied) == 0


def test_a_file_caught_halfway_through_a_write_is_not_taken(tmp_path: Path) -> None:
    path = tmp_path / "entities.csv"
    path.write_text(CSV)
    watched = EntityListFile(path, current=load_entities(path))
    _rewrite(path, "".join(CSV.splitlines(keepends=True)[:3]))  # cut at a line end: one entry of two
    assert watched.check() is None  # first sight: not taken
    _rewrite(path, CSV + "new-one,New One,export-control,\n")  # the write goes on
    assert watched.check() is None  # changed again: still not taken
    assert len(watched.current) == 2
    settled = watched.check()
    assert settled is not None
    assert len(settled) == 3


def test_the_watch_loop_hands_over_new_lists(tmp_path: Path) -> None:
    path = tmp_path / "entities.csv"
    path.write_text(CSV)
    watched = EntityListFile(path, current=load_entities(path))
    seen: list[EntityList] = []

    async def run() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(watched.watch(0.01, stop, seen.append))
        await asyncio.sleep(0.05)
        _rewrite(path, CSV + "new-one,New One,export-control,\n")
        for _ in range(200):
            if seen:
                break
            await asyncio.sleep(0.01)
        stop.set()
        await task

    asyncio.run(run())
    assert [len(entities) for entities in seen] == [3]
