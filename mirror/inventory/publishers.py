"""The publisher table: Hub namespace -> organisation, country and model family.

A curated table ships with hubgate (publishers.toml beside this module); an operator's file
(`inventory.publishers_path`) is merged over it, entry by entry. Both are validated when hubgate starts,
so a typo fails loudly instead of silently reporting a publisher as unknown.
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from mirror.errors import InvalidRepoId
from mirror.hub.rules import parse_repo_id

UNKNOWN = "unknown"
_COUNTRY = re.compile(r"[A-Z]{2}")
_FIELDS = ("organisation", "country", "family")


class PublisherTableError(Exception):
    """A publisher file is missing, not TOML, or holds an invalid entry; the message says where."""


@dataclass(frozen=True, slots=True)
class Publisher:
    org: str  # the Hub namespace, as the table spells it (or as the repository id does, when unknown)
    organisation: str
    country: str  # ISO 3166-1 alpha-2, or "unknown"
    family: str
    known: bool = True


class PublisherTable:
    def __init__(self, entries: Mapping[str, Publisher]) -> None:
        self._by_key = {org.lower(): publisher for org, publisher in entries.items()}

    def __len__(self) -> int:
        return len(self._by_key)

    @property
    def digest(self) -> str:
        """Changes whenever an entry does: decisions that used the table are versioned with it."""
        entries = sorted((key, p.org, p.organisation, p.country, p.family) for key, p in self._by_key.items())
        return hashlib.sha256(json.dumps(entries).encode()).hexdigest()

    def lookup(self, repo_id: str) -> Publisher:
        """The publisher of a repository, by its namespace; an unknown namespace reports as unknown."""
        namespace = repo_id.split("/", 1)[0] if "/" in repo_id else ""
        found = self._by_key.get(namespace.lower())
        if found is not None:
            return found
        return Publisher(
            org=namespace or UNKNOWN, organisation=UNKNOWN, country=UNKNOWN, family=UNKNOWN, known=False
        )


def shipped_table_text() -> str:
    return resources.files("mirror.inventory").joinpath("publishers.toml").read_text(encoding="utf-8")


def load_publishers(override: Path | None = None) -> PublisherTable:
    """The shipped table with the operator's file merged over it. Raises PublisherTableError."""
    entries = parse_publishers(shipped_table_text(), source="the shipped publisher table")
    if override is not None:
        try:
            text = override.read_text(encoding="utf-8")
        except OSError as exc:
            raise PublisherTableError(f"publisher file {override}: cannot be read ({exc.strerror})") from None
        replaced = parse_publishers(text, source=f"publisher file {override}")
        # Replace whole entries, matching namespaces without regard to case as lookups do.
        by_key = {org.lower(): org for org in entries}
        for org, publisher in replaced.items():
            entries.pop(by_key.get(org.lower(), org), None)
            entries[org] = publisher
    return PublisherTable(entries)


def parse_publishers(text: str, *, source: str) -> dict[str, Publisher]:
    """Parse and validate one publisher file. Raises PublisherTableError naming `source` and the entry."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PublisherTableError(f"{source}: not valid TOML: {exc}") from None
    extra = sorted(set(document) - {"publishers"})
    if extra:
        raise PublisherTableError(
            f"{source}: unknown top-level key(s) {', '.join(extra)}: use [publishers.ORG]"
        )
    table = document.get("publishers", {})
    if not isinstance(table, dict):
        raise PublisherTableError(f"{source}: `publishers` must be a table of [publishers.ORG] entries")
    entries: dict[str, Publisher] = {}
    seen: dict[str, str] = {}
    for org, entry in table.items():
        where = f"{source}: [publishers.{org}]"
        _check_org(org, where)
        if org.lower() in seen:
            raise PublisherTableError(
                f"{where} repeats [publishers.{seen[org.lower()]}] (case does not count)"
            )
        seen[org.lower()] = org
        entries[org] = _entry(org, entry, where)
    return entries


def _check_org(org: str, where: str) -> None:
    try:
        parse_repo_id(org)
    except InvalidRepoId:
        raise PublisherTableError(f"{where}: {org!r} is not a Hub namespace") from None
    if "/" in org:
        raise PublisherTableError(f"{where}: use the namespace alone, not a repository id")


def _entry(org: str, entry: object, where: str) -> Publisher:
    if not isinstance(entry, dict):
        raise PublisherTableError(f"{where} must be a table with {', '.join(_FIELDS)}")
    unknown = sorted(set(entry) - set(_FIELDS))
    if unknown:
        raise PublisherTableError(f"{where}: unknown field(s) {', '.join(unknown)}; use {', '.join(_FIELDS)}")
    values: dict[str, str] = {}
    for name in _FIELDS:
        value = entry.get(name)
        if not isinstance(value, str) or not value.strip():
            raise PublisherTableError(f"{where}: `{name}` must be a non-empty string")
        values[name] = value.strip()
    if not _COUNTRY.fullmatch(values["country"]):
        raise PublisherTableError(
            f"{where}: country {values['country']!r} must be an ISO 3166-1 alpha-2 code such as CN, US, FR"
        )
    return Publisher(
        org=org, organisation=values["organisation"], country=values["country"], family=values["family"]
    )
