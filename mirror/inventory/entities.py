"""The entity list: organisations that legal or export rules name, by the Hub namespaces they publish under.

An operator keeps it in a file (`policy.entities_path`), TOML or CSV (by the file's suffix):

    [[entities]]
    org = "some-entity"                   # a Hub namespace, or a glob of them ("some-entity*")
    name = "Some Entity Ltd."             # the organisation as the list names it
    list = "export-control"               # which list names it: origin rules match `entity:export-control`
    note = "BIS Entity List, 2025-01-15"  # optional

    org,name,list,note
    some-entity,Some Entity Ltd.,export-control,"BIS Entity List, 2025-01-15"

Globs are there because one organisation publishes under several namespaces (`some-entity`,
`some-entity-research`) and new ones appear; an entry naming every namespace (`*`) is refused.

The file is watched (its modification time, size and content hash, every `policy.entities_poll_s`) and
taken without a restart once new content has stayed the same for one more check (a file caught halfway
through a write is never taken; writing a new file and renaming it over the old one is best). A file
that cannot be read or does not validate leaves the previous list in force (logged once per content,
counted in `hubgate_entity_list_reloads_total`): a typo must never turn the list into "no entities". A
new list re-evaluates stored revisions.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import fnmatch
import hashlib
import io
import json
import logging
import re
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from mirror.policy.origins import EntityMark

log = logging.getLogger(__name__)
MAX_ENTITIES = 100_000
_FIELDS = ("org", "name", "list", "note")
_REQUIRED = ("org", "name", "list")
_ORG = re.compile(r"[A-Za-z0-9*?._-]{1,96}")
_LIST = re.compile(r"[A-Za-z0-9._ -]{1,64}")
_GLOB = re.compile(r"[*?]")
_MAX_TEXT = 500


class EntityListError(Exception):
    """An entity list file is unreadable or invalid; the message says where and why."""


@dataclass(frozen=True, slots=True)
class Entity:
    org: str  # a namespace or a glob of namespaces
    name: str
    list: str
    note: str = ""


class EntityList:
    def __init__(self, entities: Sequence[Entity] = ()) -> None:
        self.entities = tuple(entities)
        self._exact: dict[str, list[Entity]] = {}
        self._globs: list[Entity] = []
        for entity in self.entities:
            if _GLOB.search(entity.org):
                self._globs.append(entity)
            else:
                self._exact.setdefault(entity.org.casefold(), []).append(entity)
        canonical = sorted((e.org.casefold(), e.list, e.name, e.note) for e in self.entities)
        self.digest = hashlib.sha256(json.dumps(canonical).encode()).hexdigest()

    def __len__(self) -> int:
        return len(self.entities)

    def marks(self, namespace: str) -> tuple[EntityMark, ...]:
        """The lists naming `namespace` (matched without regard to case, as the Hub matches namespaces)."""
        if not namespace:
            return ()
        key = namespace.casefold()
        globbed = (e for e in self._globs if fnmatch.fnmatchcase(key, e.org.casefold()))
        found = [*self._exact.get(key, ()), *globbed]
        return tuple(dict.fromkeys(EntityMark(list=e.list, name=e.name) for e in found))


def parse_entities(text: str, *, source: str, csv_format: bool) -> EntityList:
    """Parse and validate one entity list. Raises EntityListError naming `source` and the entry."""
    rows = _csv_rows(text, source) if csv_format else _toml_rows(text, source)
    if len(rows) > MAX_ENTITIES:
        raise EntityListError(f"{source}: {len(rows)} entries; at most {MAX_ENTITIES}")
    entities: list[Entity] = []
    seen: dict[tuple[str, str], str] = {}
    for where, row in rows:
        entity = _entity(row, f"{source}: {where}")
        key = (entity.org.casefold(), entity.list.casefold())
        if key in seen:
            raise EntityListError(
                f"{source}: {where} repeats {seen[key]} (org {entity.org!r} in list {entity.list!r})"
            )
        seen[key] = where
        entities.append(entity)
    return EntityList(entities)


def load_entities(path: Path) -> EntityList:
    """The entity list in `path`. Raises EntityListError."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise EntityListError(f"entity list {path}: cannot be read ({exc.strerror or exc})") from None
    return _parse_bytes(data, path)


def _parse_bytes(data: bytes, path: Path) -> EntityList:
    try:
        text = data.decode("utf-8-sig")  # spreadsheets write a byte order mark before CSV
    except UnicodeDecodeError:
        raise EntityListError(f"entity list {path}: not UTF-8 text") from None
    return parse_entities(text, source=f"entity list {path}", csv_format=path.suffix.lower() == ".csv")


def _toml_rows(text: str, source: str) -> list[tuple[str, object]]:
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise EntityListError(f"{source}: not valid TOML: {exc}") from None
    extra = sorted(set(document) - {"entities"})
    if extra:
        raise EntityListError(
            f"{source}: unknown top-level key(s) {', '.join(extra)}: use [[entities]] tables"
        )
    table = document.get("entities", [])
    if not isinstance(table, list):
        raise EntityListError(f"{source}: `entities` must be an array of [[entities]] tables")
    return [(f"[[entities]] #{index + 1}", row) for index, row in enumerate(table)]


def _csv_rows(text: str, source: str) -> list[tuple[str, object]]:
    # Lines starting with "#" are comments (a list exported with a header note stays usable).
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    reader = csv.DictReader(io.StringIO("\n".join(lines)))
    header = [name.strip().lower() for name in reader.fieldnames or ()]
    missing = [name for name in _REQUIRED if name not in header]
    unknown = [name for name in header if name not in _FIELDS]
    if missing or unknown:
        raise EntityListError(
            f"{source}: the CSV header must name the columns {', '.join(_REQUIRED)} (and optionally note); "
            f"missing: {', '.join(missing) or 'none'}, unknown: {', '.join(unknown) or 'none'}"
        )
    reader.fieldnames = header
    rows: list[tuple[str, object]] = []
    try:
        for row in reader:
            if None in row:
                raise EntityListError(f"{source}: line {reader.line_num} has more cells than the header")
            if any((value or "").strip() for value in row.values()):
                rows.append((f"line {reader.line_num}", {k: v for k, v in row.items() if v is not None}))
    except csv.Error as exc:
        raise EntityListError(f"{source}: not valid CSV: {exc}") from None
    return rows


def _entity(row: object, where: str) -> Entity:
    if not isinstance(row, dict):
        raise EntityListError(f"{where} must be a table with {', '.join(_REQUIRED)}")
    unknown = sorted(set(row) - set(_FIELDS))
    if unknown:
        raise EntityListError(f"{where}: unknown field(s) {', '.join(unknown)}; use {', '.join(_FIELDS)}")
    values: dict[str, str] = {}
    for name in _FIELDS:
        value = row.get(name, "")
        if not isinstance(value, str):
            raise EntityListError(f"{where}: `{name}` must be a string")
        values[name] = value.strip()
        if name in _REQUIRED and not values[name]:
            raise EntityListError(f"{where}: `{name}` must not be empty")
        if len(values[name]) > _MAX_TEXT:
            raise EntityListError(f"{where}: `{name}` is longer than {_MAX_TEXT} characters")
    org = values["org"]
    if not _ORG.fullmatch(org) or "/" in org:
        raise EntityListError(
            f"{where}: org {org!r} must be a Hub namespace (letters, digits, '-', '_', '.') or a glob of one"
        )
    if not _GLOB.sub("", org).strip("._-"):
        raise EntityListError(f"{where}: org {org!r} would name every namespace")
    if not _LIST.fullmatch(values["list"]):
        raise EntityListError(
            f"{where}: list {values['list']!r} must be a short label (letters, digits, spaces, '.', '_', '-')"
        )
    return Entity(org=org, name=values["name"], list=values["list"], note=values["note"])


class EntityListFile:
    """The entity list file, watched: `check()` answers a new list when the file changed, stayed the same
    for one more check, and validates."""

    def __init__(
        self, path: Path, *, current: EntityList, on_invalid: Callable[[], None] = lambda: None
    ) -> None:
        self.path = path
        self.current = current
        self._on_invalid = on_invalid
        self._stat: tuple[int, int, int, int] | None = self._stat_now()
        self._seen_digest = _file_digest(path)
        self._pending: str | None = None

    def _stat_now(self) -> tuple[int, int, int, int] | None:
        try:
            stat = self.path.stat()
        except OSError:
            return None
        # ctime moves on any write, also one in place that keeps the size and the modification time.
        return (stat.st_mtime_ns, stat.st_ctime_ns, stat.st_size, stat.st_ino)

    def check(self) -> EntityList | None:
        """Blocking (file I/O): run it in an executor. The new list, or None when nothing changed or the
        new content is invalid (then the current list stays in force)."""
        stat = self._stat_now()
        if stat == self._stat and self._pending is None:
            return None  # unchanged (or still missing, which was reported when it went)
        self._stat = stat
        try:
            data = self.path.read_bytes()
        except OSError as exc:
            self._pending = None
            self._invalid(f"entity list {self.path}: cannot be read ({exc.strerror or exc})", None)
            return None
        digest = hashlib.sha256(data).hexdigest()
        if digest == self._seen_digest:
            self._pending = None
            return None  # touched, or rewritten with the same content
        if digest != self._pending:
            # New content is taken once it stayed the same until the next check: a file caught halfway
            # through a write (a CSV cut at a line end still parses) never briefly drops entries.
            self._pending = digest
            return None
        self._pending = None
        try:
            loaded = _parse_bytes(data, self.path)
        except EntityListError as exc:
            self._invalid(str(exc), digest)
            return None
        self._seen_digest = digest
        if loaded.digest == self.current.digest:
            return None  # reformatted, same entries
        log.info("entity list %s reloaded: %d entries (was %d)", self.path, len(loaded), len(self.current))
        self.current = loaded
        return loaded

    def _invalid(self, message: str, digest: str | None) -> None:
        if digest is None or digest != self._seen_digest:
            # Once per bad content: the next poll finds the same file and says nothing new.
            log.error("%s; the previous entity list (%d entries) stays in force", message, len(self.current))
            self._on_invalid()
        self._seen_digest = digest

    async def watch(
        self, interval_s: float, stop: asyncio.Event, on_change: Callable[[EntityList], None]
    ) -> None:
        """Poll until `stop` is set, calling `on_change` with each new valid list."""
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            try:
                changed = await loop.run_in_executor(None, self.check)
            except Exception:  # a watcher that dies silently would freeze the list: keep polling
                log.exception("checking the entity list %s failed", self.path)
                changed = None
            if changed is not None:
                on_change(changed)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval_s)


def _file_digest(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None
