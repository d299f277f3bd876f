"""The CDP side's HTTP API (SPEC §4): translate HTTP into the intake and count use cases."""

from __future__ import annotations

import hmac
import json
import logging
from contextlib import asynccontextmanager
from functools import partial
from typing import Annotated, Any

import orjson
import pymongo.errors
import redis
from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, generate_latest
from pydantic import Field, ValidationError
from pymongo.database import Database
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from crm_notes_migration.cdp.batches import BatchLedger
from crm_notes_migration.cdp.counts import counts
from crm_notes_migration.cdp.mongo import ensure_indexes
from crm_notes_migration.cdp.resolve import contacts_by_person
from crm_notes_migration.cdp.store import MongoNoteStore
from crm_notes_migration.cdp.withdrawals import MongoWithdrawalStore
from crm_notes_migration.client import FAILED_JOBS_METRIC, LIVE_JOBS_METRIC, QUEUED_NOTES_METRIC
from crm_notes_migration.config import Settings
from crm_notes_migration.contract import BatchAccepted, BatchEnvelope, error_detail, escape_unstorable
from crm_notes_migration.errors import masked
from crm_notes_migration.queue.broker import BatchQueue
from crm_notes_migration.usecases.withdraw import PendingBatches, withdraw

from .batches import INT64_MAX, INT64_MIN, BatchIntake, Conflict, Overloaded
from .withdrawals import InvalidWithdrawal, WithdrawalBody, parse_withdrawal

log = logging.getLogger(__name__)
RETRY_AFTER_S = 5
#: Longest wait of one readiness check (/readyz, and the check at start), in seconds.
READY_CHECK_TIMEOUT_S = 2.0
#: A query parameter that must fit MongoDB's 64-bit long.
Int64Param = Annotated[int, Field(ge=INT64_MIN, le=INT64_MAX)]


class ApiError(Exception):
    def __init__(self, status: int, error: str, detail: str = "", headers: dict[str, str] | None = None):
        self.status, self.error, self.detail, self.headers = status, error, detail, headers or {}


def _json_error(status: int, error: str, detail: Any = "", headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": error, "detail": detail}, status_code=status, headers=headers)


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError):
        return _json_error(exc.status, exc.error, exc.detail, exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException):
        return _json_error(exc.status_code, "http_error", exc.detail, getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError):
        errors = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", "")} for e in exc.errors()]
        return _json_error(422, "invalid_request", errors)

    @app.exception_handler(pymongo.errors.PyMongoError)
    @app.exception_handler(redis.exceptions.RedisError)
    async def _unavailable(_: Request, exc: Exception):
        log.warning("backing service unavailable: %s", exc)
        return _json_error(
            503, "unavailable", "a backing service is unavailable; retry later", {"Retry-After": str(RETRY_AFTER_S)}
        )

    @app.exception_handler(Exception)
    async def _internal(_: Request, exc: Exception):
        log.exception("unhandled error")
        return _json_error(500, "internal_error", "internal error")


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {(text[0] if text else '').split(', Timeout:')[0][:200]}"


def dependency_checks(db, queue: BatchQueue) -> dict[str, str]:
    """ "ok" or "unreachable: <why>" for MongoDB and for Redis, each within READY_CHECK_TIMEOUT_S."""
    checks = {}
    try:
        with pymongo.timeout(READY_CHECK_TIMEOUT_S):
            db.command("ping")
        checks["mongodb"] = "ok"
    except Exception as exc:  # any failure means not ready
        checks["mongodb"] = f"unreachable: {_short(exc)}"
    try:
        queue.ping()
        checks["redis"] = "ok"
    except Exception as exc:
        checks["redis"] = f"unreachable: {_short(exc)}"
    return checks


def _gauge_or_nan(read) -> float:
    try:
        return float(read())
    except redis.exceptions.RedisError:
        return float("nan")


#: Deepest nesting of arrays and objects a body may have (SPEC §4); a batch needs 5.
MAX_BODY_DEPTH = 64


def _loads(raw: bytes) -> tuple[Any, bool]:
    """`json.loads`, by orjson when it can (same values); what orjson refuses (integers
    over 64 bits, NaN, invalid UTF-8, lone surrogates) is left to the standard parser to
    accept or refuse. Returns (value, whether orjson parsed it: then it holds no lone
    surrogate). Raises ValueError for a body nested deeper than MAX_BODY_DEPTH."""
    strict = True
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        strict = False
        try:
            value = json.loads(raw)
        except RecursionError:
            raise ValueError(f"nested deeper than {MAX_BODY_DEPTH} levels") from None
    if _too_deep(value, MAX_BODY_DEPTH):
        raise ValueError(f"nested deeper than {MAX_BODY_DEPTH} levels")
    return value, strict


def _too_deep(value: Any, budget: int) -> bool:
    """Whether `value` nests arrays and objects more than `budget` levels deep."""
    kind = type(value)
    if kind is dict:
        items = value.values()
    elif kind is list:
        items = value
    else:
        return False
    if budget == 0:
        return True
    for item in items:
        kind = type(item)
        if (kind is dict or kind is list) and _too_deep(item, budget - 1):
            return True
    return False


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise ApiError(413, "payload_too_large", f"body over {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, "payload_too_large", f"body over {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def create_app(settings: Settings, *, db: Database[Any], queue: BatchQueue) -> FastAPI:
    """The FastAPI application on the given store and queue (wired by `bootstrap.api_app`);
    creates the indexes at start."""
    if not settings.migration_api_token:
        raise RuntimeError("MIGRATION_API_TOKEN is not set: the API refuses to start without one")
    token = settings.migration_api_token.encode("utf-8")
    intake = BatchIntake(
        BatchLedger(db),
        MongoNoteStore(db),
        queue,
        settings.queue_high_water_notes,
        contacts_of=partial(contacts_by_person, db),
    )
    registry = CollectorRegistry()
    batches_total = Counter("migration_batches_total", "Batches received by outcome", ["outcome"], registry=registry)
    notes_total = Counter("migration_notes_total", "Notes received by outcome", ["outcome"], registry=registry)
    # The queue's gauges that `run` waits on (one or two Redis reads each, never the store,
    # whose counts scan on FerretDB); their names are the client's.
    queued = Gauge(QUEUED_NOTES_METRIC, "Notes of batches enqueued and not done yet (all cids)", registry=registry)
    queued.set_function(lambda: _gauge_or_nan(queue.queued_notes))
    live = Gauge(LIVE_JOBS_METRIC, "Jobs waiting, running or waiting to be retried", registry=registry)
    live.set_function(lambda: _gauge_or_nan(queue.live_jobs))
    failed = Gauge(FAILED_JOBS_METRIC, "Jobs that failed for good (see failed-jobs)", registry=registry)
    failed.set_function(lambda: _gauge_or_nan(queue.failed_job_count))

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        checks = await run_in_threadpool(dependency_checks, db, queue)
        variables = {
            "mongodb": ("CDP_MONGODB_URI", settings.cdp_mongodb_uri),
            "redis": ("REDIS_URL", settings.redis_url),
        }
        for name, state in checks.items():
            if state != "ok":
                variable, value = variables[name]
                log.warning(
                    "%s is %s (%s=%s): batches get 503 and /readyz says so until it answers",
                    name,
                    state,
                    variable,
                    masked(value),
                )
        if checks["mongodb"] == "ok":
            try:
                await run_in_threadpool(ensure_indexes, db)
            except pymongo.errors.PyMongoError as exc:  # readyz reports it; the worker creates them too
                log.warning("could not create indexes at start: %s", exc)
        yield

    app = FastAPI(title="CRM notes migration: CDP side", version="1", lifespan=lifespan)
    _install_error_handlers(app)
    bearer = HTTPBearer(auto_error=False)

    def authorised(creds: HTTPAuthorizationCredentials | None = Depends(bearer)) -> None:
        given = (creds.credentials if creds else "").encode("utf-8")
        if not creds or not hmac.compare_digest(given, token):
            raise ApiError(401, "unauthorized", "missing or wrong bearer token", {"WWW-Authenticate": "Bearer"})

    body_schema = {"required": True, "content": {"application/json": {"schema": BatchEnvelope.model_json_schema()}}}

    @app.post(
        "/v1/migrations/crm-notes/batches",
        status_code=202,
        response_model=BatchAccepted,
        dependencies=[Depends(authorised)],
        openapi_extra={"requestBody": body_schema},
        responses={401: {}, 409: {}, 413: {}, 422: {}, 429: {}, 503: {}},
    )
    async def post_batch(request: Request):
        """Accept a batch of notes (contract version 1); idempotent on `batch_id`."""
        raw = await _read_body(request, settings.max_batch_body_bytes)
        try:
            payload, by_orjson = _loads(raw)
            envelope = BatchEnvelope.model_validate(payload)
        except ValidationError as exc:
            raise ApiError(422, "not_a_batch", error_detail(exc)[:300]) from None
        except ValueError as exc:
            detail = escape_unstorable(str(exc).splitlines()[0])[:300]
            raise ApiError(422, "not_a_batch", f"body: {detail}") from None
        if len(envelope.notes) > settings.max_batch_notes:
            raise ApiError(413, "too_many_notes", f"over {settings.max_batch_notes} notes")
        try:
            outcome = await run_in_threadpool(intake.receive, payload, envelope, not by_orjson)
        except Conflict:
            batches_total.labels("conflict").inc()
            raise ApiError(409, "batch_id_conflict", "this batch_id was sent before with a different body") from None
        except Overloaded:
            batches_total.labels("throttled").inc()
            raise ApiError(
                429, "queue_full", "the queue is over its high-water mark", {"Retry-After": str(RETRY_AFTER_S)}
            ) from None
        batches_total.labels("replayed" if outcome.replay else "accepted").inc()
        if not outcome.replay:
            notes_total.labels("accepted").inc(outcome.response["accepted"])
            notes_total.labels("rejected").inc(len(outcome.response["rejected"]))
        return JSONResponse(outcome.response, status_code=202)

    withdrawals = MongoWithdrawalStore(db)

    @app.post(
        "/v1/migrations/crm-notes/withdrawals",
        dependencies=[Depends(authorised)],
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": WithdrawalBody.model_json_schema()}},
            }
        },
        responses={401: {}, 409: {}, 413: {}, 422: {}, 503: {}},
    )
    async def post_withdrawal(request: Request):
        """Withdraw migration documents of one cid (notes that left scope, or a rollback)."""
        raw = await _read_body(request, settings.max_batch_body_bytes)
        try:
            wanted = parse_withdrawal(_loads(raw)[0], settings.max_batch_notes)
        except InvalidWithdrawal as exc:
            raise ApiError(422, "not_a_withdrawal", str(exc)) from None
        except OverflowError as exc:
            raise ApiError(413, "too_many_ids", str(exc)) from None
        except ValueError as exc:
            raise ApiError(422, "not_a_withdrawal", f"body: {str(exc).splitlines()[0][:200]}") from None
        try:
            result = await run_in_threadpool(withdraw, withdrawals, wanted)
        except PendingBatches as exc:
            raise ApiError(409, "batches_pending", f"{exc}: wait for the queue to drain (or see failed-jobs)") from None
        return result.as_dict()

    @app.get("/v1/migrations/crm-notes/legacy-ids", dependencies=[Depends(authorised)], responses={401: {}, 503: {}})
    def get_legacy_ids(
        cid: int = Query(..., gt=0, le=INT64_MAX),
        after: int = Query(0, ge=0, le=INT64_MAX),
        limit: int = Query(5000, gt=0, le=50_000),
    ):
        """One page of the legacy ids the migration holds for the cid (documents and parked
        records), ascending after `after`: `run` finds the notes that left scope with it."""
        return {"cid": cid, "after": after, "legacy_crm_note_ids": withdrawals.legacy_ids_after(cid, after, limit)}

    @app.get("/v1/migrations/crm-notes/counts", dependencies=[Depends(authorised)], responses={401: {}, 503: {}})
    def get_counts(cid: list[Int64Param] | None = Query(None)):
        """Migrated, parked by reason and pending notes: of one cid (`?cid=1`), of several
        (`?cid=1&cid=2`, as `{"cids": [...]}`), or of every cid the migration received."""
        if cid and len(cid) == 1:
            return counts(db, cid[0])
        return counts(db, cid or None)

    @app.get("/healthz")
    def healthz():
        """The process answers."""
        return {"status": "ok"}

    @app.get("/readyz")
    def readyz():
        """MongoDB and Redis answer: each "ok" or "unreachable: <why>"; 503 unless both are ok."""
        checks = dependency_checks(db, queue)
        ready = all(v == "ok" for v in checks.values())
        return JSONResponse(checks, status_code=200 if ready else 503)

    @app.get("/metrics")
    def metrics():
        """Prometheus metrics."""
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return app
