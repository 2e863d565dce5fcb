"""Every collaborator, built once and wired by hand; then the request handlers, each given only the
collaborators it uses. Nothing here does I/O."""

from __future__ import annotations

from dataclasses import dataclass

import aiohttp

from mirror.blobs.external_data import ExternalDataDeclarations
from mirror.blobs.gate import Gate
from mirror.blobs.housekeeping import Housekeeper
from mirror.blobs.leases import FetchLeases
from mirror.blobs.pipeline import Pipeline
from mirror.blobs.scanning import ScanRunner
from mirror.config import Settings, store_choice
from mirror.http.dispatch import Endpoints
from mirror.http.handlers.admin import AccountApi
from mirror.http.handlers.api import HubApi
from mirror.http.handlers.attestations import AttestationApi
from mirror.http.handlers.audit import AuditApi
from mirror.http.handlers.auth import ApiAuth
from mirror.http.handlers.common import HubRequests
from mirror.http.handlers.health import Health
from mirror.http.handlers.inventory import InventoryApi
from mirror.http.handlers.prefetch import PrefetchApi
from mirror.http.handlers.resolve import FileServer, ServingOptions
from mirror.http.handlers.reviews import ReviewApi
from mirror.hub.access import AccessChecker
from mirror.hub.catalog import Catalog
from mirror.hub.client import HubClient
from mirror.hub.egress import AddressPolicy, RedirectGuard
from mirror.hub.lineage import LineageWalker
from mirror.hub.names import RepoNames
from mirror.hub.ratelimit import UpstreamRateLimits
from mirror.hub.refs import RevisionResolver
from mirror.inventory.downloads import DownloadLog
from mirror.inventory.origins import OriginTables
from mirror.inventory.publishers import PublisherTable
from mirror.inventory.recorder import InventoryRecorder
from mirror.inventory.records import Inventory
from mirror.inventory.refusals import RefusalLog
from mirror.metrics import Metrics
from mirror.policy.engine import PolicyEngine
from mirror.review.attestor import Attestor
from mirror.review.checkpoints import AuditCheckpointer
from mirror.review.service import ReviewService
from mirror.review.webhook import Webhook
from mirror.revision.admission import Admission
from mirror.revision.approval import RevisionApproval
from mirror.revision.continuity import Continuity
from mirror.revision.pinning import ApprovedPinning
from mirror.revision.prefetch import Prefetcher
from mirror.revision.reevaluation import Reevaluator
from mirror.revision.signature_gate import SignatureGate
from storage.approved_pins import ApprovedPinStore
from storage.audit_trail import AuditTrail
from storage.continuity import ContinuityStore
from storage.db import Database
from storage.download_records import DownloadRecords
from storage.factory import open_store
from storage.inventory_store import InventoryStore
from storage.leases import LeaseStore
from storage.objects import ObjectStore
from storage.refused_attempts import RefusedAttemptStore
from storage.repository import MetadataRepository
from storage.retention import RetentionStore
from storage.review_store import ReviewStore
from storage.signature_store import SignatureStore
from storage.tokens import TokenStore
from storage.unverified_prefixes import UnverifiedPrefixStore


@dataclass(frozen=True, slots=True)
class Components:
    """What the composition root built. Only the app's lifecycle and the local CLI commands (which are
    the composition root's other users) see it whole; handlers and jobs get their own parts."""

    settings: Settings
    metrics: Metrics
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
    refusals: RefusalLog
    refused_attempts: RefusedAttemptStore
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
    retention: RetentionStore
    housekeeper: Housekeeper
    inventory: Inventory
    continuity: Continuity


def build(
    settings: Settings,
    *,
    policy: PolicyEngine,
    database: Database,
    session: aiohttp.ClientSession,
    addresses: AddressPolicy,
    runner: ScanRunner,
    webhook: Webhook,
    publishers: PublisherTable,
    origins: OriginTables,
    metrics: Metrics,
) -> Components:
    """Wire every collaborator; nothing here does I/O."""
    upstream = settings.upstream
    metrics.scans_running.set_function(lambda: runner.queue.running)
    metrics.scans_waiting.set_function(lambda: runner.queue.waiting)
    hub = HubClient(
        upstream,
        session,
        guard=RedirectGuard(
            endpoint=upstream.endpoint, allowed_hosts=upstream.redirect_hosts, addresses=addresses
        ),
        limits=UpstreamRateLimits(
            default_wait_s=upstream.rate_limit_wait_s,
            on_limited=lambda bucket: metrics.upstream_rate_limited.labels(bucket).inc(),
        ),
    )
    repository = MetadataRepository(database)
    review_store = ReviewStore(database)
    store = open_store(store_choice(settings))
    names = RepoNames(hub=hub, repository=repository, ttl_s=upstream.alias_ttl_s)
    access = AccessChecker(hub=hub, ttl_s=settings.upstream.access_ttl_s)
    reviews = ReviewService(
        store=review_store,
        webhook=webhook,
        four_eyes=settings.auth.four_eyes,
        public_url=settings.server.public_url,
    )
    # What the Hub stops serving: the resolver and catalog report its answers, continuity decides.
    continuity = Continuity(
        store=ContinuityStore(database),
        policy=policy,
        reviews=reviews,
        webhook=webhook,
        state_ttl_s=settings.upstream.ref_ttl_s,
    )
    resolver = RevisionResolver(
        hub=hub, repository=repository, ref_ttl_s=settings.upstream.ref_ttl_s, continuity=continuity
    )
    catalog = Catalog(hub=hub, repository=repository, resolver=resolver, access=access, continuity=continuity)
    declarations = ExternalDataDeclarations(catalog=catalog, reviews=review_store)
    gate = Gate(
        runner=runner,
        policy=policy,
        reviews=reviews,
        catalog=catalog,
        metrics=metrics,
        declarations=declarations,
    )
    pipeline = Pipeline(
        hub=hub,
        repository=repository,
        store=store,
        spool_dir=settings.spool_path,
        gate=gate,
        metrics=metrics,
        leases=FetchLeases(LeaseStore(database), ttl_s=settings.upstream.lease_ttl_s),
        unverified=UnverifiedPrefixStore(database),
    )
    # A data file's meaning can depend on a graph of its commit, which the pipeline fetches and judges.
    declarations.use(lambda graph: pipeline.ensure(graph, wait_s=None))
    retention = RetentionStore(database)
    inventory_store = InventoryStore(database)
    recorder = InventoryRecorder(inventory_store, policy.licences)
    signature_checks = SignatureStore(database)
    signatures = SignatureGate(
        policy=policy, catalog=catalog, pipeline=pipeline, store=store, records=signature_checks
    )
    admission = Admission(
        policy=policy,
        walker=LineageWalker(catalog=catalog, names=names),
        origins=origins,
        reviews=reviews,
        inventory=recorder,
        signatures=signatures,
        continuity=continuity,
    )
    continuity.use_decisions(
        lambda repo, commit: admission.fresh_revision_decision(repo, commit, hub.credentials(None))
    )
    reevaluator = Reevaluator(
        gate=gate,
        admission=admission,
        reviews=reviews,
        repository=repository,
        store=store,
        hub=hub,
        spool_dir=settings.spool_path,
        inventory=inventory_store,
        recorder=recorder,
    )
    housekeeper = Housekeeper(
        store=store,
        retention=retention,
        evict=pipeline.evict,
        max_bytes=settings.storage.max_bytes if settings.storage.backend == "filesystem" else 0,
        orphan_grace_s=settings.storage.orphan_grace_s,
    )
    prefetcher = Prefetcher(catalog=catalog, pipeline=pipeline, admission=admission)
    attestor = Attestor(settings.attestation_key_path)
    audit_trail = AuditTrail(database)
    download_records = DownloadRecords(database)
    refused_attempts = RefusedAttemptStore(database)
    checkpoints = AuditCheckpointer(
        store=audit_trail,
        objects=store,
        attestor=attestor,
        webhook=webhook,
        leases=LeaseStore(database),
        every_events=settings.audit.checkpoint_every_events,
        every_s=settings.audit.checkpoint_every_s,
        previous_keys=settings.audit.previous_keys,
    )
    approval = RevisionApproval(admission=admission, catalog=catalog, pipeline=pipeline, reviews=reviews)
    pinning = ApprovedPinning(
        policy=policy,
        store=ApprovedPinStore(database),
        catalog=catalog,
        approval=approval,
        prefetcher=prefetcher,
    )
    return Components(
        settings=settings,
        metrics=metrics,
        hub=hub,
        names=names,
        database=database,
        repository=repository,
        store=store,
        catalog=catalog,
        access=access,
        pipeline=pipeline,
        policy=policy,
        reviews=reviews,
        admission=admission,
        downloads=DownloadLog(
            download_records,
            audit_trail,
            retention,
            recorder,
            lost=metrics.download_records_lost.inc,
        ),
        refusals=RefusalLog(
            refused_attempts,
            noted=metrics.refused_downloads.inc,
            unrecorded=metrics.refused_attempts_unrecorded.inc,
        ),
        refused_attempts=refused_attempts,
        tokens=TokenStore(database),
        audit_trail=audit_trail,
        download_records=download_records,
        reevaluator=reevaluator,
        prefetcher=prefetcher,
        pinning=pinning,
        approval=approval,
        attestor=attestor,
        checkpoints=checkpoints,
        signature_checks=signature_checks,
        retention=retention,
        housekeeper=housekeeper,
        inventory=Inventory(inventory_store, publishers),
        continuity=continuity,
    )


def endpoints(built: Components) -> Endpoints:
    """The request handlers, each with the collaborators it names."""
    settings = built.settings
    public_url = settings.server.public_url
    auth = ApiAuth(built.tokens)
    requests = HubRequests(
        hub=built.hub,
        names=built.names,
        admission=built.admission,
        pinning=built.pinning,
        metrics=built.metrics,
        public_url=public_url,
    )
    return Endpoints(
        health=Health(
            database=built.database,
            store=built.store,
            reviews=built.reviews.store,
            metrics=built.metrics,
        ),
        hub_api=HubApi(requests=requests, catalog=built.catalog, names=built.names, access=built.access),
        files=FileServer(
            requests=requests,
            catalog=built.catalog,
            admission=built.admission,
            pipeline=built.pipeline,
            reviews=built.reviews,
            store=built.store,
            downloads=built.downloads,
            refusals=built.refusals,
            metrics=built.metrics,
            options=ServingOptions(
                fetch_wait_s=settings.server.fetch_wait_s,
                stream_while_downloading=settings.server.stream_while_downloading,
                serve_mode=settings.storage.serve_mode,
                presign_expires_s=settings.storage.presign_expires_s,
            ),
        ),
        account=AccountApi(auth),
        reviews=ReviewApi(
            auth=auth,
            reviews=built.reviews,
            reevaluator=built.reevaluator,
            repository=built.repository,
            downloads=built.download_records,
            attempts=built.refused_attempts,
            signature_checks=built.signature_checks,
            trail=built.audit_trail,
            continuity=built.continuity,
            public_url=public_url,
        ),
        audit=AuditApi(
            auth=auth, trail=built.audit_trail, checkpoints=built.checkpoints, objects=built.store
        ),
        prefetch=PrefetchApi(
            auth=auth,
            hub=built.hub,
            names=built.names,
            admission=built.admission,
            prefetcher=built.prefetcher,
        ),
        inventory=InventoryApi(
            auth=auth,
            inventory=built.inventory,
            downloads=built.download_records,
            reviews=built.reviews,
            trail=built.audit_trail,
            admission=built.admission,
            upstream=settings.upstream.endpoint,
            public_url=public_url,
        ),
        attestations=AttestationApi(
            auth=auth,
            attestor=built.attestor,
            hub=built.hub,
            names=built.names,
            admission=built.admission,
            catalog=built.catalog,
            approval=built.approval,
            policy=built.policy,
        ),
    )
