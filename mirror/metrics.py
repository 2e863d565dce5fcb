"""Prometheus metrics, one registry per app (several apps can live in one process, as in tests)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_DURATIONS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "hubgate_requests", "HTTP requests answered", ["route", "method", "status"], registry=r
        )
        self.request_seconds = Histogram(
            "hubgate_request_duration_seconds",
            "Time to answer (to the last byte)",
            ["route"],
            buckets=_DURATIONS,
            registry=r,
        )
        # Down only once a request's handler returned: a body streamed and its download recorded.
        self.requests_in_progress = Gauge(
            "hubgate_requests_in_progress",
            "Requests being answered (after SIGTERM: what the replica still has to finish)",
            registry=r,
        )
        self.bytes_served = Counter("hubgate_bytes_served", "File bytes sent to clients", registry=r)
        self.cache = Counter(
            "hubgate_cache_lookups", "File requests by store hit or miss", ["result"], registry=r
        )
        self.upstream_fetches = Counter(
            "hubgate_upstream_fetches", "File downloads from upstream by outcome", ["outcome"], registry=r
        )
        self.upstream_bytes = Counter(
            "hubgate_upstream_bytes", "File bytes downloaded from upstream", registry=r
        )
        self.scan_seconds = Histogram(
            "hubgate_scan_duration_seconds",
            "Scan time per engine",
            ["scanner"],
            buckets=_DURATIONS,
            registry=r,
        )
        # Read when scraped: the queue's depth is what an operator scales scanner workers (or replicas) on.
        self.scans_running = Gauge("hubgate_scans_running", "Scans running in scanner processes", registry=r)
        self.scans_waiting = Gauge(
            "hubgate_scans_waiting",
            "Scans waiting for a scanner process (past scanning.max_waiting, new files get 429)",
            registry=r,
        )
        self.verdicts = Counter(
            "hubgate_scan_verdicts", "Scan reports by engine and status", ["scanner", "status"], registry=r
        )
        self.decisions = Counter(
            "hubgate_gate_decisions", "First decisions of the gate by state", ["state"], registry=r
        )
        self.reviews = Gauge(
            "hubgate_reviews", "Reviews by state (quarantine size = QUARANTINED)", ["state"], registry=r
        )
        self.upstream_rate_limited = Counter(
            "hubgate_upstream_rate_limited",
            "429 answers from upstream, by the Hub's bucket (api, resolvers)",
            ["bucket"],
            registry=r,
        )
        self.stale_answers = Counter(
            "hubgate_stale_answers",
            "Answers served from hubgate's store because upstream was unavailable or rate-limiting",
            registry=r,
        )
        self.singleflight_waits = Counter(
            "hubgate_singleflight_waits", "Requests that joined a download already running", registry=r
        )

        self.download_records_lost = Counter(
            "hubgate_download_records_lost",
            "Download records that could not be kept (the log stayed full while the database was "
            "unavailable); each loss is also written to the audit trail once the database is back",
            registry=r,
        )

        self.refused_downloads = Counter(
            "hubgate_refused_downloads",
            "HEAD and GET requests for a file refused because its review (or its revision's) does not let "
            "it through",
            registry=r,
        )
        self.refused_attempts_unrecorded = Counter(
            "hubgate_refused_attempts_unrecorded",
            "Refused attempts not recorded: the record's pending attempts were full while the database "
            "was unavailable",
            registry=r,
        )
        self.entity_list_reloads = Counter(
            "hubgate_entity_list_reloads",
            "Changes of the entity list file by outcome: loaded, or invalid (the previous list stays)",
            ["outcome"],
            registry=r,
        )
        self.entity_list_entries = Gauge(
            "hubgate_entity_list_entries", "Entries of the entity list in force", registry=r
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
