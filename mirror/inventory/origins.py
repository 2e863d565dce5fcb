"""Origins of a revision's lineage: each repository's publisher (publisher table) and the entity lists
naming it, as the origin rules and the inventory see them.

The tables change: the publisher table with a restart, the entity list while hubgate runs. `version`
names the facts in force, and goes into every revision decision's version, so a change re-evaluates the
revisions decided under the old facts.
"""

from __future__ import annotations

import hashlib

from mirror.hub.lineage import Lineage
from mirror.inventory.entities import EntityList
from mirror.inventory.publishers import UNKNOWN, PublisherTable
from mirror.policy.origins import OriginNode


class OriginTables:
    def __init__(self, publishers: PublisherTable, entities: EntityList | None = None) -> None:
        self.publishers = publishers
        self.entities = entities or EntityList()

    def use_entities(self, entities: EntityList) -> None:
        self.entities = entities

    @property
    def version(self) -> str:
        facts = f"{self.publishers.digest}+{self.entities.digest}"
        return hashlib.sha256(facts.encode()).hexdigest()[:12]

    def nodes(self, lineage: Lineage) -> tuple[OriginNode, ...]:
        """Every repository of the lineage (the revision's own first) with its origin facts."""
        entities = self.entities  # one list for the whole lineage, even if a reload swaps it meanwhile
        nodes: list[OriginNode] = []
        for node in lineage.nodes:
            publisher = self.publishers.lookup(node.repo_id) if node.namespace else None
            nodes.append(
                OriginNode(
                    repo_id=node.repo_id,
                    path=lineage.shown_path(node),
                    depth=node.depth,
                    is_root=node.is_root,
                    namespace=node.namespace,
                    organisation=publisher.organisation if publisher else UNKNOWN,
                    country=publisher.country if publisher else UNKNOWN,
                    family=publisher.family if publisher else UNKNOWN,
                    entities=entities.marks(node.namespace),
                    unknown=node.unknown,
                    relation=node.relation,
                )
            )
        return tuple(nodes)
