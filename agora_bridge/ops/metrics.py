"""`GET /metrics` in the Prometheus text format, from three sources:

- the database's state (queue, parked and held items, backfill progress), read at scrape
  time so that every replica reports the same: `read_gauges` awaits the reads, then
  `DatabaseCollector` hands them to prometheus_client (whose collectors are synchronous);
- this process's sync engine (`DeliveryStats`): operations by type and outcome, the attempt
  latency histogram, the circuit (`DeliveryCollector`);
- this process's HTTP requests by route template and status (`HttpMetricsMiddleware`).

Labels hold route templates, operation names, AGORA codes and reasons: never an id_dossier,
a NIR or a name.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from agora_bridge.delivery.breaker import Etat
from agora_bridge.delivery.outcomes import Issue
from agora_bridge.delivery.stats import LATENCY_BUCKETS_S, QueueStatus, queue_status
from agora_bridge.ops.status import EngineView, RepriseEtat, latest_reprise
from agora_bridge.storage.livraisons import A_FAIRE

PREFIX = "agora_bridge_"
# A request no route matched (404, or refused before routing): one label for all paths.
UNMATCHED = "unmatched"
# Any other method a client invents counts as one: a label's values stay bounded.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
OTHER_METHOD = "OTHER"
# AGORA chooses its codes, so a label holding them is bounded here: past this many values,
# the others are counted together under `OTHER_CODE`.
CODES_LABELLED = 40
OTHER_CODE = "AUTRE"
_ISSUES = frozenset(issue.value for issue in Issue)


class AdmittedCodes:
    """A counter's outcome label values, for the life of the process: the bridge's own
    (`Issue`), then the first `CODES_LABELLED` AGORA codes seen keep their own series, any
    later one counts under `AUTRE`. Once in a series a code stays in it, so every series only
    grows, as a counter must."""

    def __init__(self, limit: int = CODES_LABELLED) -> None:
        self.limit = limit
        self._admitted: set[str] = set()

    def label(self, code: str) -> str:
        if code in _ISSUES:
            return code
        if code not in self._admitted and len(self._admitted) < self.limit:
            self._admitted.add(code)
        return code if code in self._admitted else OTHER_CODE


def largest(values: dict[str, int], limit: int = CODES_LABELLED) -> dict[str, int]:
    """A gauge's code label values: the `limit` largest (ties by name, so that every replica
    reports the same), the rest summed under `AUTRE`."""
    ranked = sorted(values.items(), key=lambda item: (-item[1], item[0]))
    kept = dict(ranked[:limit])
    if len(ranked) > limit:
        kept[OTHER_CODE] = kept.get(OTHER_CODE, 0) + sum(n for _, n in ranked[limit:])
    return kept


def http_requests() -> Counter:
    """This app's request counter; in no global registry (tests build many apps)."""
    return Counter(
        PREFIX + "http_requests",
        "HTTP requests answered, by method, route template and status",
        ["method", "route", "status"],
        registry=None,
    )


class HttpMetricsMiddleware:
    """Counts each answered request under its route template (`/region/v1/dossiers/{id}`),
    never its raw path."""

    def __init__(self, app: ASGIApp, *, counter: Counter) -> None:
        self.app = app
        self.counter = counter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500  # an exception escaping the app becomes a 500 further out

        async def watched(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, watched)
        finally:
            route = getattr(scope.get("route"), "path", None) or UNMATCHED
            method = scope["method"] if scope["method"] in METHODS else OTHER_METHOD
            self.counter.labels(method, route, str(status)).inc()


@dataclass(frozen=True, slots=True)
class DatabaseGauges:
    queue: QueueStatus
    reprise: RepriseEtat | None


async def read_gauges(session: AsyncSession, *, now: datetime) -> DatabaseGauges:
    return DatabaseGauges(
        queue=await queue_status(session, now=now), reprise=await latest_reprise(session)
    )


class DatabaseCollector(Collector):
    """The database's state as read for this scrape."""

    def __init__(self, gauges: DatabaseGauges) -> None:
        self.gauges = gauges

    def collect(self) -> Iterator[GaugeMetricFamily]:
        queue = self.gauges.queue
        yield _labelled(
            "work_items", "Work items (one per dossier) by state", "etat", queue.by_etat
        )
        yield _gauge("queue_depth", "Work items waiting to be sent", queue.by_etat.get(A_FAIRE, 0))
        yield _gauge("queue_due", "Work items due now", queue.due_now)
        age = queue.oldest_pending_age_s or 0.0
        yield _gauge("queue_oldest_pending_age_seconds", "Age of the oldest pending item", age)
        yield _gauge("parked_operations", "Operations parked after a rejection", queue.parked)
        yield _labelled(
            "parked_operations_by_code",
            f"Parked operations by AGORA code (the {CODES_LABELLED} commonest, then AUTRE)",
            "code",
            largest(queue.parked_by_code),
        )
        yield _labelled(
            "held_work_items",
            "Work items held by the bridge, by reason",
            "motif",
            queue.held_by_reason,
        )
        yield from _backfill(self.gauges.reprise)


_BACKFILL = {
    "lignes": "Lines of the backfill file read and stored",
    "envoyes": "Lines sent to AGORA in lots",
    "acceptes": "Lines AGORA accepted",
    "doublons": "Lines AGORA already held",
    "a_reprendre": "Lines left to the sync engine",
    "lots": "Lots recorded",
    "lots_en_cours": "Lots without an outcome yet",
    "lots_refuses": "Lots AGORA refused",
}


def _backfill(reprise: RepriseEtat | None) -> Iterator[GaugeMetricFamily]:
    """The latest backfill (all zero before any)."""
    report: dict[str, Any] = reprise.rapport if reprise is not None else {}
    for key, help_text in _BACKFILL.items():
        yield _gauge(f"backfill_{key}", help_text + " (latest backfill)", report.get(key, 0))
    rejected = sum(report.get("rejetes", {}).values())
    yield _gauge("backfill_rejetes", "Lines AGORA rejected (latest backfill)", rejected)
    finished = reprise is not None and reprise.termine
    yield _gauge("backfill_termine", "1 once the latest backfill has finished", int(finished))


class DeliveryCollector(Collector):
    """This process's sync engine since it started (nothing when it runs none)."""

    def __init__(self, engine: EngineView | None, codes: AdmittedCodes) -> None:
        self.engine = engine
        self.codes = codes

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily | HistogramMetricFamily]:
        operations = CounterMetricFamily(
            PREFIX + "agora_operations",
            "AGORA calls made by the sync engine, by operation and outcome",
            labels=["operation", "outcome"],
        )
        if self.engine is None:
            yield operations
            yield _histogram([0] * (len(LATENCY_BUCKETS_S) + 1), 0.0)
            return
        stats = self.engine.stats
        for (operation, outcome), count in _bounded(stats.operations, self.codes):
            operations.add_metric([operation, outcome], count)
        yield operations
        yield _histogram(stats.latency_buckets, stats.latency_sum_s)
        yield _labelled(
            "circuit_state",
            "1 for the circuit breaker's current state",
            "state",
            {state.value: int(state.value == self.engine.circuit) for state in Etat},
        )
        yield CounterMetricFamily(
            PREFIX + "circuit_openings", "Times the circuit opened", self.engine.circuit_openings
        )


def _bounded(
    operations: dict[tuple[str, str], int], codes: AdmittedCodes
) -> list[tuple[tuple[str, str], int]]:
    """The outcomes (AGORA's codes among them) as labels: a bounded set (`AdmittedCodes`)."""
    counts: dict[tuple[str, str], int] = {}
    for (operation, outcome), count in sorted(operations.items()):
        key = (operation, codes.label(outcome))
        counts[key] = counts.get(key, 0) + count
    return sorted(counts.items())


def _histogram(buckets: list[int], total_s: float) -> HistogramMetricFamily:
    """`DeliveryStats` keeps a count per bucket; Prometheus wants them cumulative."""
    cumulative, running = [], 0
    for bound, count in zip((*map(str, LATENCY_BUCKETS_S), "+Inf"), buckets, strict=True):
        running += count
        cumulative.append((bound, float(running)))
    return HistogramMetricFamily(
        PREFIX + "agora_attempt_duration_seconds",
        "Duration of the sync engine's AGORA calls",
        buckets=cumulative,
        sum_value=total_s,
    )


def _gauge(name: str, help_text: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(PREFIX + name, help_text, value=value)


def _labelled(name: str, help_text: str, label: str, values: dict[str, int]) -> GaugeMetricFamily:
    family = GaugeMetricFamily(PREFIX + name, help_text, labels=[label])
    for key, value in sorted(values.items()):
        family.add_metric([key], value)
    return family


def exposition(
    gauges: DatabaseGauges, engine: EngineView | None, requests: Counter, codes: AdmittedCodes
) -> bytes:
    """One scrape: a registry of its own, so that the database's values are this scrape's."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DatabaseCollector(gauges))
    registry.register(DeliveryCollector(engine, codes))
    registry.register(requests)
    return generate_latest(registry)
