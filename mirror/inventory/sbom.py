"""The inventory as a CycloneDX 1.6 ML-BOM, built and validated with cyclonedx-python-lib.

One component per served revision (`machine-learning-model` for models, purl
`pkg:huggingface/<ns>/<name>@<commit>`), its files as nested components with their SHA-256, the licences
its card states, the base_model lineage as pedigree ancestors, links to the Hub page, the model card
and hubgate's attestation, and hubgate's facts (origin, licence bucket, reviews, signature, downloads)
as `hubgate:` properties. The library has no model-card object yet, so `modelCard` is added to the JSON
it writes, and the finished document is validated against the 1.6 schema before anyone sees it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from importlib import metadata
from typing import Any
from urllib.parse import quote

from cyclonedx import spdx
from cyclonedx.model import (
    ExternalReference,
    ExternalReferenceType,
    HashAlgorithm,
    HashType,
    Property,
    XsUri,
)
from cyclonedx.model.bom import Bom
from cyclonedx.model.component import Component, ComponentType, Pedigree
from cyclonedx.model.license import DisjunctiveLicense, LicenseAcknowledgement
from cyclonedx.output.json import JsonV1Dot6
from cyclonedx.schema import SchemaVersion
from packageurl import PackageURL

from mirror.inventory.records import Ancestor, FileView, Licence, RevisionView

MEDIA_TYPE = "application/vnd.cyclonedx+json"
ATTESTATIONS = "/api/hubgate/v1/attestations"
_COMPONENT_TYPES = {
    "model": ComponentType.MACHINE_LEARNING_MODEL,
    "dataset": ComponentType.DATA,
    "space": ComponentType.APPLICATION,
}


class SbomInvalid(Exception):
    """The document hubgate built does not validate against the CycloneDX 1.6 schema (a bug in hubgate)."""


@dataclass(frozen=True, slots=True)
class Links:
    """Where links in the SBOM point: hubgate as clients reach it, and the Hub it mirrors."""

    hubgate: str
    upstream: str

    def attestation(self, revision: RevisionView) -> str:
        where = f"{revision.repo_type}/{revision.repo_id}/{revision.commit}"
        return f"{self.hubgate.rstrip('/')}{ATTESTATIONS}/{where}"

    def hub_page(self, revision: RevisionView) -> str:
        return f"{self._repo_url(revision)}/tree/{revision.commit}"

    def model_card(self, revision: RevisionView) -> str:
        return f"{self._repo_url(revision)}/blob/{revision.commit}/README.md"

    def licence(self, revision: RevisionView, link: str) -> str:
        """A card's `license_link`: absolute as given, or a file of the repository at that commit."""
        if link.startswith(("http://", "https://")):
            return link
        return f"{self._repo_url(revision)}/blob/{revision.commit}/{quote(link.lstrip('./'))}"

    def _repo_url(self, revision: RevisionView) -> str:
        prefix = "" if revision.repo_type == "model" else f"{revision.repo_type}s/"
        return f"{self.upstream.rstrip('/')}/{prefix}{revision.repo_id}"


def bom_ref(revision: RevisionView) -> str:
    return f"{revision.repo_type}s/{revision.repo_id}@{revision.commit}"


def purl(revision: RevisionView) -> PackageURL | None:
    """The package URL of a model revision; the purl type `huggingface` covers models only."""
    if revision.repo_type != "model":
        return None
    return PackageURL(
        type="huggingface", namespace=revision.namespace, name=revision.name, version=revision.commit
    )


def build_sbom(revisions: Sequence[RevisionView], *, links: Links, scope: str) -> str:
    """The validated CycloneDX 1.6 JSON of `revisions`. Raises SbomInvalid should the result not validate."""
    bom = Bom()
    bom.metadata.tools.components.add(
        Component(type=ComponentType.APPLICATION, name="hubgate", version=_hubgate_version())
    )
    bom.metadata.properties.add(Property(name="hubgate:sbom:scope", value=scope))
    cards: dict[str, dict[str, Any]] = {}
    for revision in revisions:
        bom.components.add(revision_component(revision, links))
        card = model_card(revision)
        if card:
            cards[bom_ref(revision)] = card
    document = json.loads(JsonV1Dot6(bom).output_as_string())
    for component in document.get("components", []):
        if component.get("bom-ref") in cards:
            component["modelCard"] = cards[component["bom-ref"]]
    text = json.dumps(document, indent=2, sort_keys=False)
    validate(text)
    return text


def validate(text: str) -> None:
    """Raise SbomInvalid unless `text` is valid CycloneDX 1.6 JSON (the strict schema: no stray fields)."""
    # Imported here: the JSON-schema stack (its RFC 3987 grammar) takes over a second to import, which
    # every CLI command and server start would otherwise pay.
    from cyclonedx.validation.json import JsonStrictValidator  # noqa: PLC0415

    error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text)
    if error is not None:
        raise SbomInvalid(f"the SBOM does not validate against CycloneDX 1.6: {error}")


def revision_component(revision: RevisionView, links: Links) -> Component:
    references = [
        ExternalReference(type=ExternalReferenceType.WEBSITE, url=XsUri(links.hub_page(revision))),
    ]
    if revision.repo_type == "model":
        references.append(
            ExternalReference(type=ExternalReferenceType.MODEL_CARD, url=XsUri(links.model_card(revision)))
        )
    if revision.approved:
        references.append(
            ExternalReference(type=ExternalReferenceType.ATTESTATION, url=XsUri(links.attestation(revision)))
        )
    publisher = revision.publisher
    return Component(
        type=_COMPONENT_TYPES.get(revision.repo_type, ComponentType.DATA),
        bom_ref=bom_ref(revision),
        group=revision.namespace,
        name=revision.name,
        version=revision.commit,
        purl=purl(revision),
        publisher=publisher.organisation if publisher.known else None,
        licenses=[
            _licence(item, XsUri(links.licence(revision, item.link)) if item.link else None)
            for item in revision.licences
            if item.licence
        ],
        external_references=references,
        properties=list(_revision_properties(revision)),
        components=[_file_component(revision, view) for view in revision.files],
        pedigree=Pedigree(ancestors=[_ancestor(item) for item in revision.lineage])
        if revision.lineage
        else None,
    )


def model_card(revision: RevisionView) -> dict[str, Any]:
    """The CycloneDX `modelCard` of a model revision from its Hub card (empty when nothing is known)."""
    if revision.repo_type != "model":
        return {}
    card = revision.card
    parameters: dict[str, Any] = {}
    if card.pipeline_tag:
        parameters["task"] = card.pipeline_tag
    if card.datasets:
        parameters["datasets"] = [{"type": "dataset", "name": name} for name in card.datasets]
    properties = (
        [{"name": "huggingface:library_name", "value": card.library_name}] if card.library_name else []
    )
    properties += [{"name": "huggingface:language", "value": value} for value in card.languages]
    properties += [{"name": "huggingface:base_model", "value": value} for value in card.base_models]
    result: dict[str, Any] = {}
    if parameters:
        result["modelParameters"] = parameters
    if properties:
        result["properties"] = properties
    return result


def _licence(item: Licence, url: XsUri | None = None) -> DisjunctiveLicense:
    # Hub-specific licences (llama3, gemma, `other` + license_name) are names, never SPDX ids.
    ack = LicenseAcknowledgement.DECLARED
    if (item.licence or "").lower() == "other":
        return DisjunctiveLicense(name=item.name or "other", url=url, acknowledgement=ack)
    spdx_id = spdx.fixup_id(item.licence or "")
    if spdx_id is not None:
        return DisjunctiveLicense(id=spdx_id, url=url, acknowledgement=ack)
    return DisjunctiveLicense(name=item.licence or "unknown", url=url, acknowledgement=ack)


def _ancestor(ancestor: Ancestor) -> Component:
    namespace, _, name = ancestor.repo_id.rpartition("/")
    return Component(
        type=ComponentType.MACHINE_LEARNING_MODEL,
        group=namespace or None,
        name=name,
        purl=PackageURL(type="huggingface", namespace=namespace or None, name=name),
        licenses=[_licence(item) for item in ancestor.licences if item.licence],
        properties=[Property(name="hubgate:licence:bucket", value=ancestor.bucket)],
    )


def _file_component(revision: RevisionView, view: FileView) -> Component:
    hashes = [HashType(alg=HashAlgorithm.SHA_256, content=view.sha256)] if view.sha256 else []
    properties = [
        Property(name="hubgate:file:size", value=str(view.size)),
        Property(name="hubgate:file:git-oid", value=view.git_oid),
        Property(name="hubgate:file:lfs", value=str(view.lfs).lower()),
        Property(name="hubgate:review:state", value=view.review_state),
        Property(name="hubgate:downloads:count", value=str(view.served.downloads)),
        Property(name="hubgate:downloads:bytes", value=str(view.served.bytes)),
    ]
    if view.review_id is not None:
        properties.append(Property(name="hubgate:review:id", value=str(view.review_id)))
    return Component(
        type=ComponentType.FILE,
        bom_ref=f"{bom_ref(revision)}#{view.path}",
        name=view.path,
        hashes=hashes,
        properties=properties,
    )


def _revision_properties(revision: RevisionView) -> Iterator[Property]:
    publisher = revision.publisher
    served = revision.served
    values = {
        "hubgate:repo-type": revision.repo_type,
        "hubgate:origin:org": publisher.org,
        "hubgate:origin:organisation": publisher.organisation,
        "hubgate:origin:country": publisher.country,
        "hubgate:origin:family": publisher.family,
        "hubgate:licence:stated": revision.licence_shown,
        "hubgate:licence:bucket": revision.licence_bucket,
        "hubgate:licence:verdict": revision.licence_verdict or "unrecorded",
        "hubgate:licence:policy": revision.policy_version,
        "hubgate:signature:status": revision.signature,
        "hubgate:signature:signer": revision.signer,
        "hubgate:review:state": revision.review_state,
        "hubgate:review:id": "" if revision.review_id is None else str(revision.review_id),
        "hubgate:approved": str(revision.approved).lower(),
        "hubgate:upstream:state": revision.upstream_state,
        "hubgate:served:first": _iso(revision.first_served_at),
        "hubgate:served:last": _iso(revision.last_served_at),
        "hubgate:downloads:count": str(served.downloads),
        "hubgate:downloads:bytes": str(served.bytes),
    }
    for name, value in values.items():
        if value:
            yield Property(name=name, value=value)
    for identity, tally in sorted(revision.by_identity.items()):
        yield Property(name=f"hubgate:downloads:identity:{identity}", value=str(tally.downloads))
    if revision.origins is not None:
        yield Property(name="hubgate:origin:verdict", value=revision.origins.verdict)
        # What the revision is built on: `repo (country, family)`; an incomplete branch says so.
        for root in revision.origins.roots:
            shown = f"{root.repo_id} ({root.country}, {root.family})" + (
                ", lineage unknown past it" if root.unknown else ""
            )
            yield Property(name="hubgate:origin:lineage-root", value=shown)


def _iso(moment: datetime | None) -> str:
    return "" if moment is None else moment.isoformat()


def _hubgate_version() -> str:
    try:
        return metadata.version("hubgate")
    except metadata.PackageNotFoundError:  # pragma: no cover - run from a source tree without install
        return "unknown"
