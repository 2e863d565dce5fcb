"""The collaborators request handlers use, stored on the app under typed keys."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from mirror.blobs.housekeeping import Housekeeper
from mirror.blobs.pipeline import Pipeline
from mirror.config import Settings
from mirror.hub.access import AccessChecker
from mirror.hub.catalog import Catalog
from mirror.hub.client import HubClient
from mirror.hub.names import RepoNames
from mirror.inventory.downloads import DownloadLog
from mirror.inventory.publishers import PublisherTable
from mirror.inventory.records import Inventory
from mirror.metrics import Metrics
from mirror.policy.engine import PolicyEngine
from mirror.review.attestor import Attestor
from mirror.review.checkpoints import AuditCheckpointer
from mirror.review.service import ReviewService
from mirror.revision.admission import Admission
from mirror.revision.approval import RevisionApproval
from mirror.revision.continuity import Continuity
from mirror.revision.pinning import ApprovedPinning
from mirror.revision.prefetch import Prefetcher
from mirror.revision.reevaluation import Reevaluator
from storage.audit_trail import AuditTrail
from storage.db import Database
from storage.download_records import DownloadRecords
from storage.objects import ObjectStore
from storage.repository import MetadataRepository
from storage.retention import RetentionStore
from storage.signature_store import SignatureStore
from storage.tokens import TokenStore


@dataclass(frozen=True, slots=True)
class Services:
    settings: Settings
    hub: HubClient
    names: RepoNames
    database: Database
    repository: MetadataRepository
    store: ObjectStore
    catalog: Catalog
    access: AccessChecker
    pipeline: Pipeline
    policy: PolicyEngine
    reviews: ReviewService
    admission: Admission
    downloads: DownloadLog
    reevaluator: Reevaluator
    prefetcher: Prefetcher
    pinning: ApprovedPinning
    approval: RevisionApproval
    attestor: Attestor
    checkpoints: AuditCheckpointer
    tokens: TokenStore
    audit_trail: AuditTrail
    download_records: DownloadRecords
    signature_checks: SignatureStore
    metrics: Metrics
    retention: RetentionStore
    housekeeper: Housekeeper
    inventory: Inventory
    continuity: Continuity


SETTINGS = web.AppKey("settings", Settings)
POLICY = web.AppKey("policy", PolicyEngine)
PUBLISHERS = web.AppKey("publishers", PublisherTable)
SERVICES = web.AppKey("services", Services)
ROUTE = web.RequestKey("route", str)  # the matched route name, for metrics
