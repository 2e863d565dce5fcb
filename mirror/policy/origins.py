"""Origin rules: allow / review / deny by country, publisher namespace, model family or entity list.

A rule entry is `kind:value`:
- `country:CN`: the publisher's country (ISO 3166-1 alpha-2, or `unknown`) as the publisher table says;
- `org:some-entity`: a Hub namespace (a glob: `org:some-entity*`), compared without regard to case;
- `family:Qwen`: the model family of the publisher table (`Gemma / T5 / BERT` is Gemma, T5 and BERT);
- `entity:export-control`: a namespace that the operator's entity list names under that list (`entity:*`:
  under any list).

Entries apply to the revision's publisher and to every repository of its `base_model` lineage. For each
repository the most specific entry that matches decides (entity, then org, then family, then country;
the stricter action between equally specific ones), so `allow` makes exceptions to broader rules:
`review = ["country:CN"]` with `allow = ["family:Qwen"]` reviews CN models except Qwen's. Entity-list
entries cannot be allowed: what legal names is never waved through by a broader rule.

This module is pure: the facts (who publishes under a namespace, which lists name it) come resolved in
`OriginNode`s from the caller.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass

KINDS = ("entity", "org", "family", "country")
# The more specific an entry, the more it says about one repository: it decides over broader ones.
SPECIFICITY = {"entity": 4, "org": 3, "family": 2, "country": 1}
UNKNOWN = "unknown"
_COUNTRY = re.compile(r"[A-Za-z]{2}|unknown", re.IGNORECASE)
_NAMESPACE_GLOB = re.compile(r"[A-Za-z0-9*?\[\]!._-]{1,96}")
_LABEL = re.compile(r"[A-Za-z0-9*?._ -]{1,64}")


@dataclass(frozen=True, slots=True)
class EntityMark:
    """An entity list naming a namespace: which list, and the organisation as the list names it."""

    list: str
    name: str


@dataclass(frozen=True, slots=True)
class OriginNode:
    """One repository of a revision's lineage with the facts the origin rules look at."""

    repo_id: str
    path: str  # from the revision to this repository: `org-x/ft <- org-y/mid <- Qwen/Qwen2-7B`
    depth: int  # 0: the revision's own repository (its publisher)
    is_root: bool  # a lineage root: names no base model
    namespace: str  # "" when unknown (a legacy one-segment id, a name that is no repository id)
    organisation: str
    country: str  # ISO 3166-1 alpha-2, or "unknown"
    family: str  # or "unknown"
    entities: tuple[EntityMark, ...] = ()
    unknown: str = ""  # why the lineage cannot be followed past this repository
    relation: str = ""  # how it derives from its bases, as its card says

    @property
    def role(self) -> str:
        if self.depth == 0:
            return "repository"
        return "lineage root" if self.is_root else "base model"


@dataclass(frozen=True, slots=True)
class OriginEntry:
    kind: str
    value: str

    @property
    def text(self) -> str:
        return f"{self.kind}:{self.value}"

    @property
    def specificity(self) -> int:
        return SPECIFICITY[self.kind]

    def matches(self, node: OriginNode) -> bool:
        wanted = self.value.casefold()
        if self.kind == "country":
            return node.country.casefold() == wanted
        if self.kind == "org":
            return bool(node.namespace) and fnmatch.fnmatchcase(node.namespace.casefold(), wanted)
        if self.kind == "family":
            parts = {node.family.casefold(), *(part.strip().casefold() for part in node.family.split("/"))}
            return wanted in parts
        return any(fnmatch.fnmatchcase(mark.list.casefold(), wanted) for mark in node.entities)


def parse_entry(text: str) -> OriginEntry:
    """`kind:value` as a rule entry. Raises ValueError saying what is wrong and what would do."""
    kind, separator, value = text.partition(":")
    kind, value = kind.strip().lower(), value.strip()
    if not separator or kind not in KINDS or not value:
        raise ValueError(
            f"origin rule {text!r} must be kind:value with kind one of {', '.join(KINDS)} "
            '(e.g. "country:CN", "org:some-entity", "family:Qwen", "entity:export-control")'
        )
    if kind == "country" and not _COUNTRY.fullmatch(value):
        raise ValueError(f"origin rule {text!r}: a country is an ISO 3166-1 alpha-2 code (CN, US) or unknown")
    if kind == "org" and not _NAMESPACE_GLOB.fullmatch(value):
        raise ValueError(f"origin rule {text!r}: an org is a Hub namespace or a glob of one")
    if kind in ("family", "entity") and not _LABEL.fullmatch(value):
        raise ValueError(f"origin rule {text!r}: use letters, digits, spaces, '.', '_', '-' (and globs)")
    if kind == "country":
        value = value.upper() if len(value) == 2 else UNKNOWN
    return OriginEntry(kind=kind, value=value)
