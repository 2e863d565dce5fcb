"""create_app(settings): the one place that builds and wires everything."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

from mirror.blobs.external_data import ExternalDataDeclarations
from mirror.blobs.gate import Gate
from mirror.blobs.housekeeping import Housekeeper
from mirror.blobs.leases import FetchLeases
from mirror.blobs.pipeline import Pipeline
from mirror.blobs.scanning import ScanLimits, ScanRunner
from mirror.config import Settings, store_choice
from mirror.http.dispatch import dispatch
from mirror.http.middleware import errors, header_limits, observe, request_ids
from mirror.http.services import POLICY, PUBLISHERS, SERVICES, SETTINGS, Services
from mirror.hub.access import AccessChecker
from mirror.hub.catalog import Catalog
from mirror.hub.client import HubClient
from mirror.hub.egress import AddressPolicy, GuardedResolver, Origin, RedirectGuard
from mirror.hub.names import RepoNames
from mirror.hub.ratelimit import UpstreamRateLimits
from mirror.hub.refs import RevisionResolver
from mirror.inventory.downloads import DownloadLog
from mirror.inventory.publishers import PublisherTable, load_publishers
from mirror.inventory.recorder import InventoryRecorder
from mirror.inventory.records import Inventory
from mirror.metrics import Metrics
from mirror.policy.engine import PolicyEngine
from mirror.policy.file import load_policy
from mirror.review.attestor import Attestor
from mirror.review.bootstrap import ensure_admin_token
from mirror.review.checkpoints import AuditChainBroken, AuditCheckpointer
from mirror.review.service import ReviewService
from mirror.review.webhook import Webhook
from mirror.revision.admission import Admission
from mirror.revision.approval import RevisionApproval
from mirror.revision.continuity import Continuity
from mirror.revision.pinning import ApprovedPinning
from mirror.revision.prefetch import Prefetcher
from mirror.revision.reevaluation import Reevaluator
from mirror.revision.signature_gate import SignatureGate
from storage import migrate
from storage.approved_pins import ApprovedPinStore
from storage.audit_trail import AuditTrail
from storage.continuity import ContinuityStore
from storage.db import DATABASE_ERRORS, Database, PoolSettings
from storage.download_records import DownloadRecords
from storage.factory import open_store
from storage.inventory_store import InventoryStore
from storage.leases import LeaseStore
from storage.objects import ObjectStoreError
from storage.repository import MetadataRepository
from storage.retention import RetentionStore
from storage.review_store import ReviewStore
from storage.signature_store import SignatureStore
from storage.tokens import TokenStore

# A checkpoint needs the database and the object store; either may be down.
_CHECKPOINT_FAILURES: tuple[type[Exception], ...] = (*DATABASE_ERRORS, ObjectStoreError)

log = logging.getLogger(__name__)
CHECKPOINT_ON_EXIT = web.AppKey("checkpoint_on_exit", bool)


def create_app(settings: Settings, *, background_jobs: bool = True) -> web.Application:
    """Build the app. Raises PolicyError or PublisherTableError at once for an invalid policy or
    publisher file.

    Building the services and starting the background jobs (re-evaluation, housekeeping) are two steps:
    a CLI command builds the services to do one thing (`gc --dry-run`, `pin`, `audit verify`) and must not
    have a re-evaluation or an eviction round start underneath it, so it passes `background_jobs=False`.
    """
    app = web.Application(
        client_max_size=settings.server.max_body_bytes,
        middlewares=[observe, request_ids, errors, header_limits(settings.server.max_field_size)],
    )
    app[SETTINGS] = settings
    app[POLICY] = PolicyEngine(load_policy(settings.policy.path))
    app[PUBLISHERS] = load_publishers(settings.inventory.publishers_path)
    app[CHECKPOINT_ON_EXIT] = background_jobs
    app.cleanup_ctx.append(_services)
    if background_jobs:
        app.cleanup_ctx.append(_background_jobs)
    app.router.add_route("*", "/{tail:.*}", dispatch)
    return app


async def _services(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    policy = app[POLICY]
    database = Database(
        settings.database_url,
        pool=PoolSettings(size=settings.database.pool_size, max_overflow=settings.database.max_overflow),
    )
    addresses = AddressPolicy(Origin.of(settings.upstream.endpoint).host)
    session = aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(
            total=None,
            sock_connect=settings.upstream.connect_timeout_s,
            sock_read=settings.upstream.read_timeout_s,
        ),
        connector=aiohttp.TCPConnector(limit=100, limit_per_host=32, resolver=GuardedResolver(addresses)),
        # Bodies are decoded by the Hub client itself, within a bound on the decoded size.
        auto_decompress=False,
        # The Hub sets cookies; one jar would carry one user's session to every other user.
        cookie_jar=aiohttp.DummyCookieJar(),
        trust_env=True,
    )
    # The webhook is the operator's own endpoint (often on a private network): its own session, unguarded.
    webhook_session = aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar(), trust_env=True)
    rules = policy.policy.scanning
    runner = ScanRunner(
        ScanLimits(
            timeout_s=rules.timeout_s,
            memory_mb=rules.memory_mb,
            workers=settings.scanning.workers,
            max_waiting=settings.scanning.max_waiting,
            max_waiting_per_repo=settings.scanning.max_waiting_per_repo,
            workers_per_repo=settings.scanning.workers_per_repo,
        )
    )
    webhook = Webhook(settings.webhook.url, webhook_session, timeout_s=settings.webhook.timeout_s)
    services: Services | None = None
    signing = False
    try:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        if settings.database.migrate_on_start:
            await migrate.upgrade(database)
        else:
            await migrate.require_current(database)
        await ensure_admin_token(settings.auth.admin_token, database)
        services = _build(
            settings,
            policy=policy,
            database=database,
            session=session,
            addresses=addresses,
            runner=runner,
            webhook=webhook,
            publishers=app[PUBLISHERS],
        )
        app[SERVICES] = services
        await services.attestor.start()
        signing = True
        services.downloads.start()
        log.info(
            "hubgate ready: upstream %s, data in %s, policy %s",
            settings.upstream.endpoint,
            settings.data_dir,
            policy.version,
        )
        yield
        await services.pinning.drain()
        await services.prefetcher.drain()
        await services.continuity.drain()
        await services.pipeline.flights.drain()
    finally:
        if services is not None:
            await services.downloads.close()
        # The server anchors what the audit trail gained at shutdown; a CLI command does not (a command
        # such as `audit verify` must never sign whatever state it found).
        if services is not None and signing and app[CHECKPOINT_ON_EXIT]:
            await _last_checkpoint(services.checkpoints)
        await webhook.drain()
        runner.close()
        if services is not None:
            await services.store.close()
        await session.close()
        await webhook_session.close()
        await database.close()


async def _background_jobs(app: web.Application) -> AsyncIterator[None]:
    """The server's periodic jobs; each runs a round at once, then every interval."""
    settings, services = app[SETTINGS], app[SERVICES]
    stop = asyncio.Event()
    background = asyncio.gather(
        services.reevaluator.loop(settings.policy.reevaluate_interval_s, stop),
        services.housekeeper.loop(settings.storage.housekeeping_interval_s, stop),
        services.checkpoints.loop(stop),
    )
    yield
    # Let a round in progress finish: cancelled mid-transaction, a database connection can wedge shutdown.
    stop.set()
    try:
        await asyncio.wait_for(background, timeout=settings.server.shutdown_grace_s)
    except TimeoutError:
        log.warning("background jobs did not finish within the grace period; stopping them")


async def _last_checkpoint(checkpoints: AuditCheckpointer) -> None:
    """At shutdown, anchor whatever the audit trail gained since the last checkpoint."""
    try:
        await checkpoints.checkpoint()
    except AuditChainBroken as exc:
        log.error("at shutdown: %s", exc)  # noqa: TRY400 - an alarm about the data, not a stack to trace
    except _CHECKPOINT_FAILURES as exc:
        log.warning("no audit checkpoint at shutdown: %s", exc)


def _build(
    settings: Settings,
    *,
    policy: PolicyEngine,
    database: Database,
    session: aiohttp.ClientSession,
    addresses: AddressPolicy,
    runner: ScanRunner,
    webhook: Webhook,
    publishers: PublisherTable,
) -> Services:
    """Wire every collaborator; nothing here does I/O."""
    metrics = Metrics()
    upstream = settings.upstream
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
        catalog=catalog,
        reviews=reviews,
        inventory=recorder,
        signatures=signatures,
        names=names,
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
    return Services(
        settings=settings,
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
        metrics=metrics,
        retention=retention,
        housekeeper=housekeeper,
        inventory=Inventory(inventory_store, publishers),
        continuity=continuity,
    )
