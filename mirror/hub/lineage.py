"""A model's `base_model` lineage: its card's bases followed recursively, bounded and cycle-safe.

A model card names what the model was built from in `base_model`: one repository id, or a list of them
for a merge (hub-docs, docs/hub/model-cards.md, "Specifying a base model"), and says how it derives from
them in `base_model_relation` (`adapter`, `merge`, `quantized`, `finetune`; the Hub files the model
under that relation in its base's model tree, and its API then tags the model `base_model:<id>` and
`base_model:<relation>:<id>`). One walk serves every rule that follows the lineage (licences, origins)
and the inventory, so they all see the same ancestors.

The walk is breadth first: every ancestor is reached by its shortest path from the model, which is the
path a refusal names. Whatever the walk cannot follow is recorded on the node where it stops (`unknown`):
an unreadable card, a name that is no repository id, bases beyond the depth bound, more bases than are
followed. Callers decide what an unknown part means; the origin policy treats it as possibly anything.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass

from mirror.errors import MirrorError, UpstreamTimeout, UpstreamUnavailable
from mirror.hub.catalog import Catalog
from mirror.hub.models import Credentials, RepoRef, RepoType
from mirror.hub.names import RepoNames
from mirror.hub.rules import parse_repo_id

log = logging.getLogger(__name__)

# A merge lists its parents (dozens in the largest community merges); a card naming more than this is
# followed this far, and the rest of its lineage is unknown.
MAX_BASES_PER_CARD = 32
# All ancestors of one model together: a bound on the Hub calls one decision can cause.
MAX_ANCESTORS = 64
_MAX_NAME = 200  # a card is upstream input: a base "name" is kept at most this long
RELATIONS = frozenset({"adapter", "merge", "quantized", "finetune"})
Card = Mapping[str, object]


@dataclass(frozen=True, slots=True)
class LineageNode:
    """One repository of a lineage (the model itself at depth 0)."""

    repo_id: str  # the canonical id; or the text as the card wrote it, when it names no repository
    depth: int
    via: str | None  # the node this one was reached from (None for the model itself)
    card: Card | None  # None: the card could not be read, or the name is no repository id
    bases: tuple[str, ...] = ()  # the canonical ids of the bases followed from here
    relation: str = ""  # how this repository derives from its bases, as its card says (or "")
    unknown: str = ""  # why the lineage cannot be followed past this node ("" when nothing is missing)
    is_repo_id: bool = True  # False: the card named something that is no Hub repository id

    @property
    def namespace(self) -> str:
        """The Hub namespace, "" for a legacy one-segment id or a name that is no repository id."""
        return self.repo_id.split("/", 1)[0] if self.is_repo_id and "/" in self.repo_id else ""

    @property
    def is_root(self) -> bool:
        """A lineage root: a readable card that names no base model."""
        return self.card is not None and not self.bases and not self.unknown


@dataclass(frozen=True, slots=True)
class Lineage:
    nodes: tuple[LineageNode, ...]  # breadth first; nodes[0] is the model itself

    @property
    def model(self) -> LineageNode:
        return self.nodes[0]

    @property
    def ancestors(self) -> tuple[LineageNode, ...]:
        return self.nodes[1:]

    @property
    def roots(self) -> tuple[LineageNode, ...]:
        return tuple(node for node in self.nodes if node.is_root)

    @property
    def incomplete(self) -> tuple[LineageNode, ...]:
        """The nodes past which the lineage is unknown."""
        return tuple(node for node in self.nodes if node.unknown)

    def path(self, node: LineageNode) -> tuple[str, ...]:
        """The repository ids from the model to `node` (the first path found: a shortest one)."""
        by_id = {item.repo_id: item for item in self.nodes}
        path = [node.repo_id]
        current = node
        while current.via is not None and len(path) <= len(self.nodes):
            current = by_id[current.via]
            path.append(current.repo_id)
        return tuple(reversed(path))

    def shown_path(self, node: LineageNode) -> str:
        """`org-x/ft <- org-y/mid <- Qwen/Qwen2-7B`: the model first, as a refusal names it."""
        return " <- ".join(self.path(node))


class LineageWalker:
    """Reads model cards through the catalog (so they are stored, and still known when the Hub is down)."""

    def __init__(self, *, catalog: Catalog, names: RepoNames) -> None:
        self._catalog = catalog
        self._names = names

    async def card(self, repo: RepoRef, commit: str | None, credentials: Credentials) -> Card:
        """The card data of `repo` at `commit` (the default branch when None); {} when it has none."""
        document = await self._catalog.repo_info(repo, commit, (("expand", "cardData"),), credentials)
        info = json.loads(document.body)
        card = info.get("cardData") if isinstance(info, dict) else None
        return card if isinstance(card, dict) else {}

    async def walk(self, repo: RepoRef, card: Card, credentials: Credentials, *, max_depth: int) -> Lineage:
        """The lineage of `repo` (whose `card` the caller read at the commit it decides on), following
        `base_model` at most `max_depth` levels up. Only models have one: a dataset or space is alone.

        Raises UpstreamUnavailable / UpstreamTimeout when the Hub cannot be asked about an ancestor (no
        answer is not an answer); any other error reading an ancestor makes it unknown."""
        if repo.repo_type is not RepoType.MODEL:
            return Lineage(nodes=(LineageNode(repo_id=repo.repo_id, depth=0, via=None, card=card),))
        walk = _Walk()
        frontier = [walk.add(repo.repo_id, depth=0, via=None, card=card, max_depth=max_depth)]
        while frontier:
            next_frontier: list[str] = []
            for child in frontier:
                for named in walk.pending_bases(child):
                    reached = await self._reach(walk, named, child, credentials, max_depth)
                    if reached is not None:
                        next_frontier.append(reached)
            frontier = next_frontier
        return walk.lineage()

    async def _reach(
        self, walk: _Walk, named: str, child: str, credentials: Credentials, max_depth: int
    ) -> str | None:
        """Visit the base `named` by `child`'s card; returns its id when its own bases are to be followed."""
        depth = walk.depth_of(child) + 1
        try:
            spelling = RepoRef(repo_type=RepoType.MODEL, repo_id=parse_repo_id(named))
        except MirrorError:
            walk.link(child, named)
            if walk.seen(named):
                return None
            walk.add(
                named,
                depth=depth,
                via=child,
                card=None,
                max_depth=max_depth,
                is_repo_id=False,
                unknown="the card names it as a base model, but it is no Hub repository id",
            )
            return None
        base_id = named
        try:
            # Cards name bases in any spelling (legacy ids, other case): follow the repo it names.
            base = await self._names.canonical(spelling, credentials)
            base_id = base.repo_id
            walk.link(child, base_id)
            if walk.seen(base_id):
                return None
            if walk.full():
                walk.stop(child, f"the lineage has more than {MAX_ANCESTORS} ancestors; no more are followed")
                return None
            base_card = await self.card(base, None, credentials)
        except (UpstreamUnavailable, UpstreamTimeout):
            # Not an answer about the ancestor: nothing is decided (or remembered) until the Hub can be
            # asked, and the client gets the coded 503/504/429.
            raise
        except MirrorError as exc:
            log.info("base model %s of %s unreadable: %s", base_id, child, exc.message)
            walk.link(child, base_id)
            if not walk.seen(base_id):
                why = f"its model card could not be read ({exc.code}: {exc.message})"
                walk.add(base_id, depth=depth, via=child, card=None, max_depth=max_depth, unknown=why[:300])
            return None
        walk.add(base_id, depth=depth, via=child, card=base_card, max_depth=max_depth)
        return base_id


class _Walk:
    """The walk's state: nodes by id, in the order reached, and the edges followed."""

    def __init__(self) -> None:
        self._order: list[str] = []
        self._nodes: dict[str, LineageNode] = {}
        self._named: dict[str, list[str]] = {}  # bases still to visit, per node
        self._bases: dict[str, list[str]] = {}  # bases followed, per node (canonical ids)
        self._unknown: dict[str, str] = {}

    def seen(self, repo_id: str) -> bool:
        return repo_id in self._nodes

    def full(self) -> bool:
        return len(self._nodes) > MAX_ANCESTORS

    def depth_of(self, repo_id: str) -> int:
        return self._nodes[repo_id].depth

    def add(
        self,
        repo_id: str,
        *,
        depth: int,
        via: str | None,
        card: Card | None,
        max_depth: int,
        unknown: str = "",
        is_repo_id: bool = True,
    ) -> str:
        named, problem = ([], "") if card is None else base_models(card)
        relation = "" if card is None else relation_of(card, len(named))
        if len(named) > MAX_BASES_PER_CARD:
            problem = problem or (
                f"its card names {len(named)} base models; hubgate follows the first {MAX_BASES_PER_CARD}"
            )
            named = named[:MAX_BASES_PER_CARD]
        if named and depth >= max_depth:
            problem = problem or f"its base models lie beyond the depth bound ({max_depth} levels)"
            named = []
        self._order.append(repo_id)
        self._nodes[repo_id] = LineageNode(
            repo_id=repo_id,
            depth=depth,
            via=via,
            card=card,
            relation=relation,
            is_repo_id=is_repo_id,
        )
        self._named[repo_id] = [name for name in named if name != repo_id]
        self._bases[repo_id] = []
        self._unknown[repo_id] = unknown or problem
        return repo_id

    def pending_bases(self, repo_id: str) -> list[str]:
        return self._named.pop(repo_id, [])

    def link(self, child: str, base: str) -> None:
        if base != child and base not in self._bases[child]:
            self._bases[child].append(base)

    def stop(self, repo_id: str, why: str) -> None:
        self._unknown[repo_id] = self._unknown[repo_id] or why

    def lineage(self) -> Lineage:
        nodes = []
        for repo_id in self._order:
            node = self._nodes[repo_id]
            nodes.append(
                LineageNode(
                    repo_id=node.repo_id,
                    depth=node.depth,
                    via=node.via,
                    card=node.card,
                    bases=tuple(self._bases[repo_id]),
                    relation=node.relation,
                    unknown=self._unknown[repo_id],
                    is_repo_id=node.is_repo_id,
                )
            )
        return Lineage(nodes=tuple(nodes))


def base_models(card: Card) -> tuple[list[str], str]:
    """The bases a card names (`base_model`: one id or a list), and what is wrong with the field if
    anything: a value that is neither a string nor a list of strings cannot be followed."""
    value = card.get("base_model")
    if value is None:
        return [], ""
    items = [value] if isinstance(value, str) else value if isinstance(value, list) else None
    if items is None:
        return [], "its card's base_model is neither a repository id nor a list of them"
    names: list[str] = []
    for item in items:
        text = item.strip()[:_MAX_NAME] if isinstance(item, str) else ""
        if text and text not in names:
            names.append(text)
    if any(not isinstance(item, str) for item in items):
        return names, "its card's base_model list holds entries that are no repository ids"
    return names, ""


def relation_of(card: Card, bases: int) -> str:
    """How a model derives from its bases: the card's `base_model_relation` when it is one the Hub knows,
    else a `base_model:<relation>:<id>` tag of the card itself (PEFT writes `base_model:adapter:<id>` into
    the cards of the adapters it saves, peft_model.py), else `merge` for several bases; "" (not stated)
    otherwise. The Hub infers more (an adapter_config.json makes an adapter) and says so in the tags of
    its API answer, but the card is what hubgate reads and stores for every revision."""
    stated = card.get("base_model_relation")
    if isinstance(stated, str) and stated.strip().lower() in RELATIONS:
        return stated.strip().lower()
    tags = card.get("tags")
    for tag in tags if isinstance(tags, list) else ():
        parts = tag.split(":", 2) if isinstance(tag, str) else []
        if len(parts) == 3 and parts[0] == "base_model" and parts[1] in RELATIONS:
            return parts[1]
    if bases > 1:
        return "merge"
    return ""
