"""HTTP client of the CDP migrate and count endpoints (SPEC §4), with bounded retries.

Connection errors and 5xx are retried with exponential backoff and full jitter for one
wait budget (`MIGRATION_API_WAIT_S`: an API restarting or briefly away is waited for);
a 429 is retried after its `Retry-After`. Other 4xx answers are final. Past the budget,
`ApiUnreachable` (no answer) or `MigrationApiError` (5xx) says what happened last and
names `MIGRATION_API_URL`.
"""

from __future__ import annotations

import email.utils
import json
import random
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import httpx
import orjson

from .errors import FixableError

BATCHES_PATH = "/v1/migrations/crm-notes/batches"
COUNTS_PATH = "/v1/migrations/crm-notes/counts"
WITHDRAWALS_PATH = "/v1/migrations/crm-notes/withdrawals"
LEGACY_IDS_PATH = "/v1/migrations/crm-notes/legacy-ids"
#: Legacy ids per page of `iter_legacy_ids`.
LEGACY_IDS_PAGE = 5000
METRICS_PATH = "/metrics"
#: The API's gauge of notes still queued, every cid together (one Redis GET to answer),
#: so `run` can wait for the queue to drain without asking the store.
QUEUED_NOTES_METRIC = "migration_queued_notes"
#: The API's gauges of jobs waiting, running or due for a retry, and of jobs that failed
#: for good: with none of the first and some of the second, waiting cannot end.
LIVE_JOBS_METRIC = "migration_live_jobs"
FAILED_JOBS_METRIC = "migration_failed_jobs"
#: Seconds connection errors and 5xx answers are retried for, per request, before giving
#: up (config.DEFAULT_MIGRATION_API_WAIT_S is the setting's default).
DEFAULT_WAIT_S = 300.0
#: First backoff delay in seconds; doubles per attempt up to DEFAULT_BACKOFF_CAP_S.
DEFAULT_BACKOFF_BASE_S = 0.5
DEFAULT_BACKOFF_CAP_S = 30.0
#: Longest total time spent waiting on 429 answers for one request.
DEFAULT_MAX_THROTTLE_WAIT_S = 900.0
#: Longest wait for a counts answer (see `MigrationApiClient.counts`).
COUNTS_READ_TIMEOUT_S = 900.0
#: Seconds between two polls of the counts endpoint while waiting for the queue to drain.
DEFAULT_POLL_INTERVAL_S = 0.5
_JSON_HEADERS = {"Content-Type": "application/json"}
#: Up to this many cids, `wait_drained` asks for each cid's counts; above it, it waits on
#: one cid and then asks once for every cid. A store without usable indexes (FerretDB,
#: SPEC §9) answers one cid's counts with a scan of the whole collection, and every cid's
#: with one pass costing about as much as a few dozen of those: per cid, 130 cids cost
#: 130 scans; at once, about one pass.
PER_CID_DRAIN_MAX = 8
#: While waiting on one cid, sleep at least this many times as long as its count took.
PROBE_COST_FACTOR = 4.0
#: While waiting on counts, how often the API's job gauges are read to see whether
#: waiting can still end (`QueueStuck`); waiting on the queued-notes gauge reads them anyway.
STUCK_CHECK_EVERY_S = 5.0


class _SentOnce:
    """A request body that lets go of its bytes once sent.

    httpx's Response, Request and httpcore's pool objects form reference cycles, so each
    finished request stays in memory until the cyclic collector runs, and a `bytes`
    body (a batch: up to megabytes) with it. Iterated once, this body drops its bytes; a
    retry sends a new one."""

    __slots__ = ("_data",)

    def __init__(self, data: bytes) -> None:
        self._data: bytes | None = data

    def __iter__(self):
        data, self._data = self._data, None
        if data is not None:
            yield data


class MigrationApiError(RuntimeError):
    """The API refused a request for good, or stayed unreachable past the retry bound."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class ApiUnreachable(MigrationApiError, FixableError):
    """The API did not answer at all within the wait budget."""


class QueueStuck(TimeoutError):
    """Waiting for the queue to drain cannot end: notes are pending, and no job is waiting,
    running or due for a retry (only jobs that failed for good are left, or none at all).
    `args`: (what to do, the counts read so far)."""


def _retry_after_seconds(value: str | None, default: float) -> float:
    if not value:
        return default
    try:
        return max(0.0, float(value))
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value)
        return max(0.0, parsed.timestamp() - time.time()) if parsed else default


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:300]
    if isinstance(body, dict):
        return str(body.get("detail") or body.get("error") or body)[:300]
    return str(body)[:300]


class MigrationApiClient:
    """The extractor's view of the CDP API: `post_batch`, `counts`, `wait_drained`."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout_s: float = 60.0,
        wait_s: float = DEFAULT_WAIT_S,
        max_attempts: int | None = None,
        backoff_base_s: float = DEFAULT_BACKOFF_BASE_S,
        backoff_cap_s: float = DEFAULT_BACKOFF_CAP_S,
        max_throttle_wait_s: float = DEFAULT_MAX_THROTTLE_WAIT_S,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {token}"},
            timeout=timeout_s,
            limits=httpx.Limits(max_connections=32, max_keepalive_connections=32),
        )
        self._base_url = base_url
        self._wait_s = wait_s
        self._max_attempts = max_attempts
        self._backoff_base_s = backoff_base_s
        self._backoff_cap_s = backoff_cap_s
        self._max_throttle_wait_s = max_throttle_wait_s
        self._sleep = sleep

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> MigrationApiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _backoff(self, attempt: int) -> float:
        return random.uniform(0, min(self._backoff_cap_s, self._backoff_base_s * 2 ** (attempt - 1)))

    def _request(self, method: str, path: str, body: bytes | None = None, **kwargs: Any) -> httpx.Response:
        """`body`: sent with its Content-Length and let go of once sent (`_SentOnce`).

        Connection errors and 5xx are retried until `wait_s` has passed since the first
        of them (or `max_attempts`, when given, were made)."""
        attempt = 0
        failing_since: float | None = None
        slept = 0.0
        throttled_s = 0.0
        if body is not None:
            kwargs["headers"] = {**kwargs.get("headers", {}), "Content-Length": str(len(body))}
        while True:
            if body is not None:
                kwargs["content"] = _SentOnce(body)
            failure: httpx.TransportError | None = None
            try:
                response = self._http.request(method, path, **kwargs)
            except httpx.TransportError as exc:
                response, failure = None, exc
            if response is not None and response.status_code == 429:
                wait = _retry_after_seconds(response.headers.get("Retry-After"), self._backoff(attempt + 1))
                throttled_s += wait
                if throttled_s > self._max_throttle_wait_s:
                    raise MigrationApiError(
                        f"{method} {path}: still throttled (429) after {throttled_s:.0f}s of waiting", 429
                    )
                self._sleep(wait)
                continue
            if response is not None and response.status_code < 500:
                if response.status_code >= 400:
                    raise MigrationApiError(
                        f"{method} {path}: HTTP {response.status_code}: {_detail(response)}", response.status_code
                    )
                return response
            attempt += 1
            now = time.monotonic()
            failing_since = now if failing_since is None else failing_since
            waited = max(now - failing_since, slept)
            left = self._wait_s - waited
            if left <= 0 or (self._max_attempts is not None and attempt >= self._max_attempts):
                raise self._gave_up(method, path, attempt, waited, failure, response)
            delay = min(self._backoff(attempt), left)
            self._sleep(delay)
            slept += delay

    def _gave_up(
        self,
        method: str,
        path: str,
        attempts: int,
        waited: float,
        failure: httpx.TransportError | None,
        response: httpx.Response | None,
    ) -> MigrationApiError:
        where = f"MIGRATION_API_URL={self._base_url}"
        tried = f"{attempts} attempts in {waited:.0f}s; MIGRATION_API_WAIT_S={self._wait_s:g} sets how long to wait"
        if response is not None:
            return MigrationApiError(
                f"{method} {path}: the API at {where} answered HTTP {response.status_code} ({tried}): "
                f"{_detail(response)}",
                response.status_code,
            )
        error = ApiUnreachable(
            f"the API is unreachable at {where} ({tried}; last: "
            f"{type(failure).__name__}: {failure}): start it or fix MIGRATION_API_URL"
        )
        error.__cause__ = failure
        return error

    def post_batch(self, batch: dict[str, Any]) -> dict[str, Any]:
        """POST one SPEC §4 batch; returns the 202 answer `{batch_id, accepted, rejected}`."""
        try:
            body = orjson.dumps(batch)
        except TypeError:  # what orjson refuses (e.g. an integer over 64 bits): the API judges it
            body = json.dumps(batch).encode()
        return self._request("POST", BATCHES_PATH, body=body, headers=_JSON_HEADERS).json()

    def counts(self, cid: int | None = None, cids: Sequence[int] | None = None) -> dict[str, Any]:
        """The counts of one cid; `{"cids": [...]}` of `cids`, or of every cid the API has
        received batches for when neither is given.

        Counting reads whole collections on FerretDB (about 30 s at 200k notes): the answer
        is waited for up to COUNTS_READ_TIMEOUT_S, since a retry after a read timeout would
        only start the same work again beside the first."""
        if cids is not None and cid is None:
            if len(cids) == 1:
                return {"cids": [self.counts(cids[0])]}
            params: Any = [("cid", c) for c in cids] or None
        else:
            params = {"cid": cid} if cid is not None else None
        timeout = httpx.Timeout(
            self._http.timeout.connect,
            read=COUNTS_READ_TIMEOUT_S,
            write=self._http.timeout.write,
            pool=self._http.timeout.pool,
        )
        return self._request("GET", COUNTS_PATH, params=params, timeout=timeout).json()

    def withdraw(self, body: dict[str, Any]) -> dict[str, Any]:
        """POST one withdrawal (SPEC §4); returns `{cid, withdrawn, unparked,
        kept_edited_in_cdp, absent}`. A 409 (batches pending) is a `MigrationApiError`
        with `status` 409. Safe to retry: withdrawing is idempotent."""
        return self._request("POST", WITHDRAWALS_PATH, body=orjson.dumps(body), headers=_JSON_HEADERS).json()

    def iter_legacy_ids(self, cid: int, page: int = LEGACY_IDS_PAGE) -> Iterator[int]:
        """Every legacy id the migration holds for the cid (migration documents and parked
        records), ascending, read a page at a time."""
        after = 0
        while True:
            answer = self._request("GET", LEGACY_IDS_PATH, params={"cid": cid, "after": after, "limit": page}).json()
            ids = [int(i) for i in answer.get("legacy_crm_note_ids") or []]
            yield from ids
            if len(ids) < page:
                return
            after = ids[-1]

    def queue_gauges(self) -> dict[str, float]:
        """The API's queue gauges (QUEUED_NOTES_METRIC, LIVE_JOBS_METRIC, FAILED_JOBS_METRIC)
        that it gives and can read now (NaN, Redis unavailable: left out); {} when /metrics
        does not answer. One GET: three Redis reads for the API."""
        try:
            response = self._http.get(METRICS_PATH)
        except httpx.TransportError:
            return {}
        if response.status_code != 200:
            return {}
        wanted = (QUEUED_NOTES_METRIC, LIVE_JOBS_METRIC, FAILED_JOBS_METRIC)
        gauges: dict[str, float] = {}
        for line in response.text.splitlines():
            name, _, value = line.partition(" ")
            if name in wanted:
                try:
                    number = float(value)
                except ValueError:
                    continue
                if number == number:  # not NaN
                    gauges[name] = number
        return gauges

    @staticmethod
    def _stuck(gauges: dict[str, float]) -> str | None:
        """Why waiting cannot end, from the gauges; None when it can (or they do not say)."""
        failed = gauges.get(FAILED_JOBS_METRIC, 0)
        if gauges.get(LIVE_JOBS_METRIC) == 0 and failed > 0:
            return (
                f"no job is left on the queue but {failed:.0f} that failed for good: "
                f"`crm-notes-migrate failed-jobs` lists them and their errors, "
                f"`failed-jobs --requeue` retries them, `failed-jobs --discard` drops them "
                f"(the next `run` sends their notes again)"
            )
        return None

    def _stuck_check(self) -> Callable[[dict[int, dict[str, Any]]], None]:
        """A check to call on each poll of the counts while notes are pending: every
        STUCK_CHECK_EVERY_S it reads the gauges and raises `QueueStuck` (with the counts so
        far) if waiting cannot end: only failed jobs are left, or, at two checks in a row,
        the queue holds no job at all (Redis lost its data: the batches must be sent again,
        and a batch sent again is queued again)."""
        last = time.monotonic()
        empty_before = False

        def check(latest: dict[int, dict[str, Any]]) -> None:
            nonlocal last, empty_before
            if time.monotonic() - last < STUCK_CHECK_EVERY_S:
                return
            last = time.monotonic()
            gauges = self.queue_gauges()
            why = self._stuck(gauges)
            if why is not None:
                raise QueueStuck(why, latest)
            empty = gauges.get(LIVE_JOBS_METRIC) == 0 and gauges.get(FAILED_JOBS_METRIC) == 0
            if empty and empty_before:
                pending = sum(int(c.get("pending", 0)) for c in latest.values())
                raise QueueStuck(
                    f"{pending} notes are pending but the queue holds no job for them (Redis restarted "
                    f"without its data?): send them again (`run` again, or `reconcile --repair`); a "
                    f"batch sent again is queued again",
                    latest,
                )
            empty_before = empty

        return check

    def wait_drained(
        self,
        cids: Iterable[int],
        timeout_s: float,
        on_progress: Callable[[dict[int, dict[str, Any]]], None] | None = None,
        poll_interval_s: float = DEFAULT_POLL_INTERVAL_S,
        on_queued: Callable[[int], None] | None = None,
    ) -> dict[int, dict[str, Any]]:
        """Poll the counts until `pending == 0` for every cid; returns the last counts per cid.

        Called once everything was sent, so a cid seen with nothing pending stays drained.
        Up to PER_CID_DRAIN_MAX cids, cids are checked one at a time in order and only the
        first still-pending cid is polled again (the queue drains roughly in send order):
        each poll costs one cid's count. With more cids, it waits until the API's
        queued-notes gauge (/metrics, one Redis GET) is zero, or, when the API does not give
        it, until the last cid (sent last, drained last) has nothing pending, polling that
        cid alone no more often than PROBE_COST_FACTOR times as long as a poll takes; then
        every cid's counts are read at once, and cids still pending are waited on in the
        second way (the counts decide: the gauge is only a cheap hint). Raises
        `TimeoutError` (with the counts so far in `args[1]`) after `timeout_s`, and its
        subclass `QueueStuck` once the API's gauges say that nothing left on the queue can
        land what is pending (only jobs that failed for good are left, or, at two checks in
        a row, no job at all; read on each poll of the gauge, every STUCK_CHECK_EVERY_S while
        polling counts).
        `on_queued` hears the gauge's value while it is the thing waited on.
        """
        cids = list(cids)
        deadline = time.monotonic() + timeout_s
        if len(cids) <= PER_CID_DRAIN_MAX:
            return self._drain_each(cids, deadline, timeout_s, on_progress, poll_interval_s)
        latest: dict[int, dict[str, Any]] = {}
        while True:
            gauges = self.queue_gauges()
            queued = gauges.get(QUEUED_NOTES_METRIC)
            if queued is None or queued <= 0:
                break
            if on_queued is not None:
                on_queued(int(queued))
            if (why := self._stuck(gauges)) is not None:
                raise QueueStuck(f"{queued:.0f} notes still queued: {why}", latest)
            if time.monotonic() >= deadline:
                raise TimeoutError(f"{queued:.0f} notes still queued after {timeout_s:.0f}s", latest)
            self._sleep(poll_interval_s)
        read_all = queued is not None  # the gauge says the queue is empty: read every cid now
        probe = cids[-1]
        stop_if_stuck = self._stuck_check()
        while True:
            took = 0.0
            if not read_all:
                asked = time.monotonic()
                latest[probe] = self.counts(probe)
                took = time.monotonic() - asked
            if read_all or latest[probe].get("pending", 0) <= 0:
                read_all = False
                every = {int(c["cid"]): c for c in self.counts(cids=cids).get("cids", [])}
                latest.update({c: every[c] if c in every else self.counts(c) for c in cids})
                waiting = [c for c in cids if latest[c].get("pending", 0) > 0]
                if not waiting:
                    if on_progress is not None:
                        on_progress(latest)
                    return latest
                probe = waiting[-1]
            if on_progress is not None:
                on_progress(latest)
            stop_if_stuck(latest)
            if time.monotonic() >= deadline:
                left = sum(1 for c in cids if latest.get(c, {}).get("pending", 1) > 0)
                raise TimeoutError(f"{left} cid(s) still pending after {timeout_s:.0f}s", latest)
            # a count costs the store about as much as it takes to answer: poll no more
            # often than that keeps its share of the machine (shared with the workers) small
            self._sleep(max(poll_interval_s, PROBE_COST_FACTOR * took))

    def _drain_each(self, cids, deadline, timeout_s, on_progress, poll_interval_s) -> dict[int, dict[str, Any]]:
        latest: dict[int, dict[str, Any]] = {}
        waiting = deque(cids)
        stop_if_stuck = self._stuck_check()
        while waiting:
            cid = waiting[0]
            latest[cid] = self.counts(cid)
            if latest[cid].get("pending", 0) <= 0:
                waiting.popleft()
                continue
            if on_progress is not None:
                on_progress(latest)
            stop_if_stuck(latest)
            if time.monotonic() >= deadline:
                raise TimeoutError(f"{len(waiting)} cid(s) still pending after {timeout_s:.0f}s", latest)
            self._sleep(poll_interval_s)
        if on_progress is not None:
            on_progress(latest)
        return latest
