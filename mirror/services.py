"""The collaborators request handlers use, stored on the app under typed keys."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from mirror.access import AccessChecker
from mirror.admission import Admission
from mirror.attestations import Attestor
from mirror.audit_checkpoints import AuditCheckpointer
from mirror.catalog import Catalog
from mirror.config import Settings
from mirror.downloads import DownloadLog
from mirror.housekeeping import Housekeeper
from mirror.hub.client import HubClient
from mirror.hub.names import RepoNames
from mirror.inventory.publishers import PublisherTable
from mirror.inventory.records import Inventory
from mirror.metrics import Metrics
from mirror.pinning import ApprovedPinning
from mirror.pipeline import Pipeline
from mirror.policy import PolicyEngine
from mirror.prefetch import Prefetcher
from mirror.reevaluation import Reevaluator
from mirror.reviews import ReviewService
from mirror.revision_approval import RevisionApproval
from storage.db import Database
from storage.objects import ObjectStore
from storage.repository import MetadataRepository
from storage.retention import RetentionStore
from storage.signature_store import SignatureStore


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
    signature_checks: SignatureStore
    metrics: Metrics
    retention: RetentionStore
    housekeeper: Housekeeper
    inventory: Inventory


SETTINGS = web.AppKey("settings", Settings)
POLICY = web.AppKey("policy", PolicyEngine)
PUBLISHERS = web.AppKey("publishers", PublisherTable)
SERVICES = web.AppKey("services", Services)
ROUTE = web.RequestKey("route", str)  # the matched route name, for metrics
