"""The reconcile use case: every selected cid, optional counts cross-check, optional repair."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from pymongo.database import Database

from crm_notes_migration.client import MigrationApiError
from crm_notes_migration.errors import UnknownCids
from crm_notes_migration.source.crm import CrmSource
from crm_notes_migration.transform import TransformOptions
from crm_notes_migration.usecases.reconcile.engine import RepairSink, reconcile_cid
from crm_notes_migration.usecases.reconcile.ledger import CidLedger, compare_api_counts, totals
from crm_notes_migration.usecases.reconcile.parallel import reconcile_in_processes
from crm_notes_migration.usecases.reconcile.repair import Repairer
from crm_notes_migration.usecases.reconcile.sample import Sample, StratifiedSampler
from crm_notes_migration.usecases.reconcile.snapshot import (
    SNAPSHOT_MIN_CIDS,
    CidStores,
    open_streams,
    snapshot_directory,
)

#: How long `--repair` waits for the queue to drain before checking again.
DEFAULT_DRAIN_TIMEOUT_S = 600.0
#: Cids per ask of the counts endpoint (their query string stays under 8 KB). On FerretDB
#: the API counts several cids in one pass over each collection, where one cid per ask
#: costs a table scan per cid and collection (cids × notes). With more cids than this,
#: the endpoint is asked once for every cid it knows (one pass), then for those it lacks.
COUNTS_CIDS_PER_ASK = 500


class CountsClient(Protocol):
    """What reconcile needs of the API client (MigrationApiClient satisfies it)."""

    def counts(self, cid: int | None = None, cids: Sequence[int] | None = None) -> dict[str, Any]: ...
    def post_batch(self, batch: dict[str, Any]) -> dict[str, Any]: ...
    def wait_drained(self, cids: Iterable[int], timeout_s: float) -> dict[int, dict[str, Any]]: ...


@dataclass
class Reconciliation:
    """The result of one reconcile (after repair, when asked)."""

    ledgers: list[CidLedger]
    samples: list[Sample] = field(default_factory=list)
    repair: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return all(x.ok for x in self.ledgers)

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "totals": totals(self.ledgers),
            "cids": [x.as_dict() for x in self.ledgers],
            "repair": self.repair,
        }


def select_cids(
    source: CrmSource, wanted: Sequence[int] | None, held: Callable[[list[int]], set[int]] | None = None
) -> list[int]:
    """The asked cids, or the CRM's list of cids (every cid with notes, in scope or not,
    so a cid whose notes were all soft-deleted still shows its extras). Never a read of
    the CDP's collections for "all": they hold every tenant's notes (SPEC §3). An asked cid
    that neither the CRM nor the migration's own records (`held`) know is an error
    (`UnknownCids`); one the CRM lost but the migration holds is reconciled (its extras)."""
    if wanted:
        unknown = source.unknown_cids(sorted(set(wanted)))
        if unknown and held is not None:
            kept = held(unknown)
            unknown = [c for c in unknown if c not in kept]
        if unknown:
            raise UnknownCids(unknown, "neither the CRM nor the migration's records know")
        return sorted(set(wanted))
    return source.known_cids()


def reconcile_one(
    db: Database[Any],
    source: CrmSource,
    cid: int,
    *,
    tz: ZoneInfo,
    options: TransformOptions,
    stores: CidStores | None = None,
    sample_size: int = 0,
    seed: int = 0,
    repair_sink: RepairSink | None = None,
) -> tuple[CidLedger, list[Sample]]:
    """One cid's ledger and sample; an error is booked on the ledger, never raised."""
    sampler = StratifiedSampler(sample_size, seed, cid) if sample_size else None
    try:
        ledger = reconcile_cid(
            db, source, cid, tz=tz, options=options, sampler=sampler, repair=repair_sink, stores=stores
        )
    except Exception as exc:  # one broken cid must not hide the others' findings
        ledger = CidLedger(cid=cid)
        ledger.errors.append(f"{type(exc).__name__}: {exc}")
    return ledger, sampler.result() if sampler is not None else []


def default_workers(cids: int) -> int:
    """os.cpu_count() processes, never more than cids; one for a handful of cids."""
    return 1 if cids < SNAPSHOT_MIN_CIDS else max(1, min(os.cpu_count() or 1, cids))


def reconcile(
    db: Database[Any],
    source: CrmSource,
    cids: Sequence[int],
    *,
    tz: ZoneInfo,
    options: TransformOptions,
    client: CountsClient | None = None,
    sample_size: int = 0,
    seed: int = 0,
    repair_sink: RepairSink | None = None,
    on_cid: Callable[[CidLedger], None] | None = None,
    settings: Any = None,
    workers: int = 1,
) -> Reconciliation:
    """One pass over `cids`: a ledger per cid (cross-checked with the counts endpoint when a
    client is given) and the per-cid stratified samples, in cid order.

    The CDP side is read through the store adapter's streams (`open_streams`: it picks
    per-cid index ranges or a one-pass snapshot, from the store). `workers` > 1 (needs
    `settings`, and no `repair_sink`: the re-sends are posted from this process) reconciles
    whole cids on that many processes."""
    cids = list(cids)
    parallel = workers > 1 and settings is not None and repair_sink is None and len(cids) > 1
    with snapshot_directory() as tmp:
        stores = open_streams(db, cids, tmp)
        try:
            if parallel:
                results = reconcile_in_processes(
                    settings,
                    cids,
                    workers=min(workers, len(cids)),
                    streams_spec=stores.spec,
                    sample_size=sample_size,
                    seed=seed,
                )
            else:
                results = (
                    reconcile_one(
                        db,
                        source,
                        cid,
                        tz=tz,
                        options=options,
                        stores=stores,
                        sample_size=sample_size,
                        seed=seed,
                        repair_sink=repair_sink,
                    )
                    for cid in cids
                )
            ledgers: list[CidLedger] = []
            samples: list[Sample] = []
            checker = _CountsCheck(client, whole=len(cids) > COUNTS_CIDS_PER_ASK)
            waiting: list[tuple[CidLedger, list[Sample]]] = []

            def settle() -> None:
                checker.check([ledger for ledger, _ in waiting])
                for ledger, picked in waiting:
                    ledgers.append(ledger)
                    samples.extend(picked)
                    if on_cid is not None:
                        on_cid(ledger)
                waiting.clear()

            for result in results:
                waiting.append(result)
                if client is None or len(waiting) >= COUNTS_CIDS_PER_ASK:
                    settle()
            settle()
        finally:
            stores.close()
    return Reconciliation(ledgers, samples)


class _CountsCheck:
    """Cross-checks ledgers with the counts endpoint, up to COUNTS_CIDS_PER_ASK cids per ask;
    `whole`: its answer for every cid it knows, asked once, and the cids it lacks asked for.
    Once the API has failed past the client's retries, it is not asked again."""

    def __init__(self, client: CountsClient | None, whole: bool = False) -> None:
        self.client = client
        self.whole = whole
        self.known: dict[int, dict[str, Any]] | None = None
        self.down = ""

    def _answers(self, client: CountsClient, cids: list[int]) -> dict[int, dict[str, Any]]:
        def by_cid(answer: dict[str, Any]) -> dict[int, dict[str, Any]]:
            return {int(row["cid"]): row for row in answer["cids"]}

        if not self.whole:
            return by_cid(client.counts(cids=cids))
        if self.known is None:
            self.known = by_cid(client.counts())
        found = {c: self.known[c] for c in cids if c in self.known}
        lacking = [c for c in cids if c not in self.known]
        return {**found, **by_cid(client.counts(cids=lacking))} if lacking else found

    def check(self, ledgers: list[CidLedger]) -> None:
        asked = [ledger for ledger in ledgers if not ledger.errors]
        if self.client is None or not asked:
            return
        if self.down:
            for ledger in asked:
                ledger.errors.append(f"counts endpoint: not asked: {self.down}")
            return
        try:
            by_cid = self._answers(self.client, [ledger.cid for ledger in asked])
        except Exception as exc:
            if isinstance(exc, MigrationApiError):
                self.down = f"it failed for cid {asked[0].cid}"
            for ledger in asked:
                ledger.errors.append(f"counts endpoint: {type(exc).__name__}: {exc}")
            return
        for ledger in asked:
            if ledger.cid in by_cid:
                compare_api_counts(ledger, by_cid[ledger.cid])
            else:
                ledger.errors.append(f"counts endpoint: its answer has no cid {ledger.cid}: check the API's version")


def reconcile_and_repair(
    db: Database[Any],
    source: CrmSource,
    cids: Sequence[int],
    *,
    tz: ZoneInfo,
    options: TransformOptions,
    client: CountsClient,
    sample_size: int = 0,
    seed: int = 0,
    batch_size: int = 500,
    drain_timeout_s: float = DEFAULT_DRAIN_TIMEOUT_S,
    settings: Any = None,
    workers: int = 1,
) -> Reconciliation:
    """Reconcile, re-send every missing and mismatched note, wait for the queue to drain,
    then reconcile again; the second pass is the result."""
    repairer = Repairer(client, batch_size=batch_size)
    first = reconcile(db, source, cids, tz=tz, options=options, client=None, repair_sink=repairer)
    repairer.flush()
    drained, drain_error = True, None
    if repairer.sent:
        try:
            client.wait_drained(sorted(repairer.sent), timeout_s=drain_timeout_s)
        except TimeoutError as exc:  # out of time, or `QueueStuck`: waiting could not end
            drained = False
            drain_error = str(exc.args[0]) if exc.args else "the queue did not drain"
    second = reconcile(
        db,
        source,
        cids,
        tz=tz,
        options=options,
        client=client,
        sample_size=sample_size,
        seed=seed,
        settings=settings,
        workers=workers,
    )
    second.repair = {
        "before": totals(first.ledgers),
        "resent": repairer.count,
        "resent_ids": {str(k): v[:50] for k, v in sorted(repairer.sent.items())},
        "batches": len(repairer.batches),
        "rejected": repairer.rejected[:50],
        "drained": drained,
        "drain_error": drain_error,
        "not_repairable": {
            "extra": sum(x.extra.count for x in first.ledgers),
            "duplicates": sum(x.duplicates.count for x in first.ledgers),
        },
    }
    return second
