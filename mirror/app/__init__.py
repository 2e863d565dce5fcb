"""create_app(settings): the one place that builds and wires everything."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
from aiohttp import web

from mirror.app.wiring import Components, build, endpoints
from mirror.blobs.scanning import ScanLimits, ScanRunner
from mirror.config import Settings
from mirror.http.dispatch import Dispatcher
from mirror.http.middleware import errors, header_limits, observe, request_ids
from mirror.hub.egress import AddressPolicy, GuardedResolver, Origin
from mirror.inventory.entities import EntityList, EntityListFile, load_entities
from mirror.inventory.origins import OriginTables
from mirror.inventory.publishers import PublisherTable, load_publishers
from mirror.metrics import Metrics
from mirror.policy.engine import PolicyEngine
from mirror.policy.file import load_policy
from mirror.review.bootstrap import ensure_admin_token
from mirror.review.checkpoints import AuditChainBroken, AuditCheckpointer
from mirror.review.webhook import Webhook
from storage import migrate
from storage.db import DATABASE_ERRORS, Database, EngineSettings
from storage.objects import ObjectStoreError

# A checkpoint needs the database and the object store; either may be down.
_CHECKPOINT_FAILURES: tuple[type[Exception], ...] = (*DATABASE_ERRORS, ObjectStoreError)

log = logging.getLogger(__name__)
# What the app's startup built, for its own lifecycle, the local CLI commands and the test harness.
COMPONENTS = web.AppKey("components", Components)
_SETTINGS = web.AppKey("settings", Settings)
_POLICY = web.AppKey("policy", PolicyEngine)
_PUBLISHERS = web.AppKey("publishers", PublisherTable)
_ORIGIN_TABLES = web.AppKey("origin_tables", OriginTables)
_METRICS = web.AppKey("metrics", Metrics)
_DISPATCHER = web.AppKey("dispatcher", Dispatcher)
_CHECKPOINT_ON_EXIT = web.AppKey("checkpoint_on_exit", bool)


@dataclass
class _Closing:
    """One bound on all hubgate does after its drain (the background jobs' last rounds, then the last
    writes), counted from the first of them: a database that stopped answering without closing its
    connections would otherwise hold the process for its drivers' timeouts, past the termination grace."""

    within_s: float
    deadline: float | None = None

    def timeout(self, share: float = 1.0) -> asyncio.Timeout:
        """A bound of `share` of the time left (the rest stays for what comes after)."""
        now = asyncio.get_running_loop().time()
        if self.deadline is None:
            self.deadline = now + self.within_s
        return asyncio.timeout_at(now + share * max(0.0, self.deadline - now))


_CLOSING = web.AppKey("closing", _Closing)


def create_app(settings: Settings, *, background_jobs: bool = True) -> web.Application:
    """Build the app. Raises PolicyError, PublisherTableError or EntityListError at once for an invalid
    policy, publisher or entity list file.

    Building the components and starting the background jobs (re-evaluation, housekeeping) are two steps:
    a CLI command builds the components to do one thing (`gc --dry-run`, `pin`, `audit verify`) and must not
    have a re-evaluation or an eviction round start underneath it, so it passes `background_jobs=False`.
    """
    metrics = Metrics()
    dispatcher = Dispatcher()
    app = web.Application(
        client_max_size=settings.server.max_body_bytes,
        middlewares=[observe(metrics), request_ids, errors, header_limits(settings.server.max_field_size)],
    )
    app[_SETTINGS] = settings
    app[_POLICY] = PolicyEngine(load_policy(settings.policy.path))
    app[_PUBLISHERS] = load_publishers(settings.inventory.publishers_path)
    entities = settings.policy.entities_path
    app[_ORIGIN_TABLES] = OriginTables(
        app[_PUBLISHERS], load_entities(entities) if entities is not None else EntityList()
    )
    app[_METRICS] = metrics
    app[_DISPATCHER] = dispatcher
    app[_CHECKPOINT_ON_EXIT] = background_jobs
    app[_CLOSING] = _Closing(settings.server.close_timeout_s)
    app.cleanup_ctx.append(_components)
    if background_jobs:
        app.cleanup_ctx.append(_background_jobs)
    app.router.add_route("*", "/{tail:.*}", dispatcher.dispatch)
    return app


async def _components(app: web.Application) -> AsyncIterator[None]:
    settings = app[_SETTINGS]
    policy = app[_POLICY]
    database = Database(
        settings.database_url,
        settings=EngineSettings(
            size=settings.database.pool_size,
            max_overflow=settings.database.max_overflow,
            connect_timeout_s=settings.database.connect_timeout_s,
            statement_timeout_s=settings.database.statement_timeout_s,
        ),
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
    built: Components | None = None
    signing = False
    try:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        if settings.database.migrate_on_start:
            await migrate.upgrade(database)
        else:
            await migrate.require_current(database)
        await ensure_admin_token(settings.auth.admin_token, database)
        built = build(
            settings,
            policy=policy,
            database=database,
            session=session,
            addresses=addresses,
            runner=runner,
            webhook=webhook,
            publishers=app[_PUBLISHERS],
            origins=app[_ORIGIN_TABLES],
            metrics=app[_METRICS],
        )
        app[COMPONENTS] = built
        app[_DISPATCHER].serve(endpoints(built))
        await built.attestor.start()
        signing = True
        built.downloads.start()
        built.refusals.start()
        log.info(
            "hubgate ready: upstream %s, data in %s, policy %s",
            settings.upstream.endpoint,
            settings.data_dir,
            policy.version,
        )
        yield
        await built.pinning.drain()
        await built.prefetcher.drain()
        await built.continuity.drain()
        await built.pipeline.drain()
    finally:
        if built is not None:
            # The server anchors what the audit trail gained at shutdown; a CLI command does not (a
            # command such as `audit verify` must never sign whatever state it found).
            checkpoint = signing and app[_CHECKPOINT_ON_EXIT]
            await _last_writes(built, app[_CLOSING], checkpoint=checkpoint)
        await webhook.drain()
        await runner.close()
        if built is not None:
            await built.store.close()
        await session.close()
        await webhook_session.close()
        await database.close()


async def _background_jobs(app: web.Application) -> AsyncIterator[None]:
    """The server's periodic jobs; each runs a round at once, then every interval."""
    settings, built = app[_SETTINGS], app[COMPONENTS]
    stop = asyncio.Event()
    background = asyncio.gather(
        built.reevaluator.loop(settings.policy.reevaluate_interval_s, stop),
        built.housekeeper.loop(settings.storage.housekeeping_interval_s, stop),
        built.checkpoints.loop(stop),
        _watch_entities(app[_ORIGIN_TABLES], built, stop),
    )
    yield
    # Let a round in progress finish: cancelled mid-transaction, a database connection can wedge shutdown.
    stop.set()
    try:
        # A round cut short is run again by the next start; the last writes after it are worth more.
        async with app[_CLOSING].timeout(share=0.5):
            await background
    except TimeoutError:
        log.warning("background jobs did not finish their rounds in time at shutdown; stopping them")


async def _watch_entities(tables: OriginTables, built: Components, stop: asyncio.Event) -> None:
    """Take each new entity list while the server runs, and have stored revisions decided again under it."""
    settings, metrics = built.settings, built.metrics
    metrics.entity_list_entries.set(len(tables.entities))
    path = settings.policy.entities_path
    if path is None:
        return
    watched = EntityListFile(
        path, current=tables.entities, on_invalid=metrics.entity_list_reloads.labels("invalid").inc
    )

    def use(entities: EntityList) -> None:
        tables.use_entities(entities)
        metrics.entity_list_reloads.labels("loaded").inc()
        metrics.entity_list_entries.set(len(entities))
        built.reevaluator.wake()

    await watched.watch(settings.policy.entities_poll_s, stop, use)


async def _last_writes(built: Components, closing: _Closing, *, checkpoint: bool) -> None:
    """The download and refusal logs' last records, then the audit trail's last checkpoint."""
    try:
        async with closing.timeout():
            closed = await asyncio.gather(
                built.downloads.close(), built.refusals.close(), return_exceptions=True
            )
            for failure in (outcome for outcome in closed if isinstance(outcome, Exception)):
                log.error("at shutdown, a log's last write failed: %r", failure)  # the rest still closes
            if checkpoint:
                await _last_checkpoint(built.checkpoints)
    except TimeoutError:
        log.error(  # noqa: TRY400 - an outage to report, not a stack to trace
            "the database did not take hubgate's last writes within server.close_timeout_s (%s s; the "
            "download and refusal records not yet written%s): given up",
            closing.within_s,
            ", the audit checkpoint" if checkpoint else "",
        )


async def _last_checkpoint(checkpoints: AuditCheckpointer) -> None:
    """At shutdown, anchor whatever the audit trail gained since the last checkpoint."""
    try:
        await checkpoints.checkpoint()
    except AuditChainBroken as exc:
        log.error("at shutdown: %s", exc)  # noqa: TRY400 - an alarm about the data, not a stack to trace
    except _CHECKPOINT_FAILURES as exc:
        log.warning("no audit checkpoint at shutdown: %s", exc)
