"""The job queue adapter: Dramatiq on Redis. Nothing here connects at import time.

One message per accepted batch: (cid, batch_id, notes as contract JSON). The broker is
tuned so that a job whose worker died is redelivered well within a minute: Dramatiq's
defaults (60 s heartbeat timeout, maintenance on 0.1 % of commands) can take many minutes.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection
from typing import Any

import dramatiq
import orjson
import redis
from dramatiq import Message
from dramatiq.brokers.redis import RedisBroker
from dramatiq.encoder import JSONEncoder

from crm_notes_migration.cdp.errors import is_transient as is_transient_store_error

QUEUE_NAME = "crm_note_batches"
ACTOR_NAME = "ingest_batch"

#: A worker silent (no Redis command) this long is taken for dead and its unacked
#: messages go back on the queue. Live workers beat every HEARTBEAT_INTERVAL_S.
HEARTBEAT_TIMEOUT_MS = 20_000
HEARTBEAT_INTERVAL_S = 5.0
#: Out of a million broker commands, how many run the maintenance that requeues the
#: messages of dead workers (10 %: an idle worker polls about once a second).
MAINTENANCE_CHANCE = 100_000
#: Transient failures (MongoDB or Redis away) are retried with exponential backoff
#: between these bounds, for about JOB_RETRY_WAIT_S (`retries_within`), then dead-lettered.
MIN_BACKOFF_MS = 1_000
MAX_BACKOFF_MS = 60_000
#: Retries of an actor declared without a budget (about 20 minutes).
MAX_RETRIES = 25
#: How long the "this batch is on the queue" marker lives in Redis.
ENQUEUED_MARKER_TTL_S = 7 * 24 * 3600

#: Redis errors of a server restarting, loading its data, failing over or unreachable.
TRANSIENT_REDIS_ERRORS: tuple[type[BaseException], ...] = (
    redis.exceptions.ConnectionError,  # BusyLoadingError, ... too
    redis.exceptions.TimeoutError,
    redis.exceptions.ReadOnlyError,
    redis.exceptions.TryAgainError,
    redis.exceptions.ClusterDownError,
)
#: What a Redis answer starts with when the server is not ready yet or failing over.
TRANSIENT_REDIS_REPLIES = ("LOADING", "MASTERDOWN", "READONLY", "TRYAGAIN", "CLUSTERDOWN", "BUSY")


def is_transient_queue_error(exc: BaseException) -> bool:
    """Whether the queue's (Redis's) error is its being away or restarting."""
    if isinstance(exc, TRANSIENT_REDIS_ERRORS):
        return True
    return isinstance(exc, redis.exceptions.ResponseError) and str(exc).startswith(TRANSIENT_REDIS_REPLIES)


def is_transient(exc: BaseException) -> bool:
    """Whether a failed job is worth retrying later: the store or the queue was away or
    restarting (each adapter judges its own errors)."""
    return is_transient_store_error(exc) or is_transient_queue_error(exc)


def retry_when(retries: int, exc: BaseException, max_retries: int = MAX_RETRIES) -> bool:
    """Dramatiq's retry predicate: transient errors only, at most `max_retries` times."""
    return retries < max_retries and is_transient(exc)


def retries_within(wait_s: float) -> int:
    """How many retries Dramatiq's backoff (between MIN_BACKOFF_MS and MAX_BACKOFF_MS,
    jittered up to twice, then down to half the cap) spreads over about `wait_s` seconds,
    by their mean delays."""
    total, retries = 0.0, 0
    while total < wait_s:
        total += min(MIN_BACKOFF_MS * 2**retries * 1.5, MAX_BACKOFF_MS * 0.75) / 1000
        retries += 1
    return max(1, retries)


class FastJSONEncoder(JSONEncoder):
    """Dramatiq's JSON messages, encoded and decoded with orjson (several times faster on
    a batch of notes); what orjson refuses (an integer over 64 bits, NaN) goes through
    the standard encoder. Messages stay plain JSON either way."""

    def encode(self, data) -> bytes:
        try:
            return orjson.dumps(data)
        except TypeError:
            return super().encode(data)

    def decode(self, data: bytes):
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            return super().decode(data)


def build_broker(settings) -> RedisBroker:
    """The Redis broker of `settings` (REDIS_URL, queue namespace), set as Dramatiq's
    global broker so actors declared afterwards bind to it."""
    broker = RedisBroker(
        url=settings.redis_url,
        namespace=settings.queue_namespace,
        heartbeat_timeout=HEARTBEAT_TIMEOUT_MS,
        maintenance_chance=MAINTENANCE_CHANCE,
    )
    dramatiq.set_broker(broker)
    dramatiq.set_encoder(FastJSONEncoder())
    return broker


def declare_ingest_actor(
    broker: RedisBroker, handler: Callable[[int, str, list[dict[str, Any]]], None], max_retries: int = MAX_RETRIES
) -> Any:
    """The actor that runs `handler(cid, batch_id, notes)` for each message; a job failing
    on a transient error is retried up to `max_retries` times."""
    return dramatiq.actor(  # type: ignore[call-overload]
        handler,
        broker=broker,
        actor_name=ACTOR_NAME,
        queue_name=QUEUE_NAME,
        max_retries=max_retries,
        min_backoff=MIN_BACKOFF_MS,
        max_backoff=MAX_BACKOFF_MS,
        retry_when=functools.partial(retry_when, max_retries=max_retries),
        time_limit=30 * 60 * 1000,
    )


def batch_message(cid: int, batch_id: str, notes: list[dict[str, Any]]) -> Message:
    return Message(queue_name=QUEUE_NAME, actor_name=ACTOR_NAME, args=(cid, batch_id, notes), kwargs={}, options={})


#: Adds a batch's notes to the queued-notes total once per batch (KEYS: hash, total).
_ADD_QUEUED = """
if redis.call('hsetnx', KEYS[1], ARGV[1], ARGV[2]) == 1 then redis.call('incrby', KEYS[2], ARGV[2]) end
"""
#: Takes a batch's notes off the total once, however often it is delivered.
_DROP_QUEUED = """
local n = redis.call('hget', KEYS[1], ARGV[1])
if n then redis.call('hdel', KEYS[1], ARGV[1]); redis.call('decrby', KEYS[2], n) end
"""


class BatchQueue:
    """Enqueues batches, at most once while a batch is on the queue, and manages
    dead-lettered jobs. Keeps, beside the queue in Redis, the number of notes of batches
    enqueued and not done yet (dead-lettered ones included until they are done): the
    API's high-water check reads it in O(1). It is bookkeeping per batch_id, so duplicate
    deliveries do not count twice, and a Redis that lost its data loses it with the queue."""

    def __init__(self, broker: RedisBroker) -> None:
        self.broker = broker
        self.client: redis.Redis = broker.client
        self.ns = broker.namespace
        self._keys = [f"{self.ns}:queued_notes:by_batch", f"{self.ns}:queued_notes:total"]
        self._add = self.client.register_script(_ADD_QUEUED)
        self._drop = self.client.register_script(_DROP_QUEUED)

    def queued_notes(self) -> int:
        """Notes of batches enqueued and not done yet (one Redis GET)."""
        return int(self.client.get(self._keys[1]) or 0)

    def batch_done(self, batch_id: str) -> None:
        """The batch has been ingested: its notes leave the queued total (idempotent),
        and its last error is forgotten."""
        self._drop(keys=self._keys, args=[batch_id])
        self.client.hdel(self._errors_key, batch_id)
        self.client.delete(self._marker(batch_id))

    @property
    def _errors_key(self) -> str:
        return f"{self.ns}:job_errors"

    def note_error(self, batch_id: str, error: str) -> None:
        """Remember the last error of a batch's job (Dramatiq keeps a traceback only
        for jobs it retries, so a job that fails for good at once would say nothing)."""
        self.client.hset(self._errors_key, batch_id, error[:500])

    def last_error(self, batch_id: str) -> str:
        """The last error noted for the batch's job, or ""."""
        raw: Any = self.client.hget(self._errors_key, batch_id)
        return raw.decode("utf-8", "replace") if raw else ""

    def _marker(self, batch_id: str) -> str:
        return f"{self.ns}:enqueued:{batch_id}"

    def enqueue_batch(self, cid: int, batch_id: str, notes: list[dict[str, Any]], *, new: bool = False) -> bool:
        """Put the batch on the queue unless it is already there; True when enqueued.
        The marker lives in Redis with the queue, so a Redis that lost its data forgets
        both and a re-sent batch is enqueued again; the worker removes it when the batch is
        done. `new`: the durable ledger has just recorded this batch for the first time,
        so it is enqueued whatever marker a reset ledger left behind."""
        if not self.client.set(self._marker(batch_id), "1", nx=not new, ex=ENQUEUED_MARKER_TTL_S):
            return False
        try:
            self._add(keys=self._keys, args=[batch_id, len(notes)])
            self.broker.enqueue(batch_message(cid, batch_id, notes))
        except BaseException:
            self.client.delete(self._marker(batch_id))
            self.batch_done(batch_id)
            raise
        return True

    def ping(self) -> bool:
        return bool(self.client.ping())

    def live_jobs(self) -> int:
        """Jobs waiting on the queue, running, or waiting to be retried (Dramatiq's qsize)."""
        return int(self.broker.do_qsize(QUEUE_NAME))

    def failed_job_count(self) -> int:
        """Jobs that failed for good (dead-lettered), one Redis command."""
        return int(self.client.zcard(self._dead_letter_keys()[0]))

    def _dead_letter_keys(self) -> tuple[str, str]:
        base = f"{self.ns}:{QUEUE_NAME}.XQ"
        return base, base + ".msgs"

    def failed_jobs(self) -> list[Message]:
        """Jobs that failed for good, oldest first."""
        return [message for _, message in self._failed()]

    def _failed(self, ids: Collection[str] | None = None) -> list[tuple[bytes, Message]]:
        """(Redis id, message) of the dead-lettered jobs, oldest first; with `ids`, only
        those whose batch_id or message id is among them."""
        zkey, hkey = self._dead_letter_keys()
        redis_ids: list[bytes] = list(self.client.zrange(zkey, 0, -1))  # type: ignore[arg-type]
        raw: list[Any] = list(self.client.hmget(hkey, redis_ids)) if redis_ids else []
        out: list[tuple[bytes, Message]] = []
        for redis_id, data in zip(redis_ids, raw, strict=True):
            if not data:
                continue
            message = Message.decode(data)
            if ids is None or message.message_id in ids or message.args[1] in ids:
                out.append((redis_id, message))
        return out

    def _forget_failed(self, redis_id: bytes) -> None:
        zkey, hkey = self._dead_letter_keys()
        self.client.zrem(zkey, redis_id)
        self.client.hdel(hkey, redis_id)

    def requeue_failed(self, ids: Collection[str] | None = None) -> int:
        """Put dead-lettered jobs back on the queue (retry count reset): every one, or
        those whose batch_id or message id is in `ids`."""
        count = 0
        for redis_id, old in self._failed(ids):
            self.broker.enqueue(batch_message(*old.args))
            self._forget_failed(redis_id)
            count += 1
        return count

    def discard_failed(self, ids: Collection[str] | None = None) -> list[tuple[int, str]]:
        """Remove dead-lettered jobs for good (every one, or those of `ids`), and their
        bookkeeping: their notes leave the queued total and the batch may be enqueued
        again. Returns the (cid, batch_id) of each job removed."""
        removed = []
        for redis_id, old in self._failed(ids):
            cid, batch_id = int(old.args[0]), str(old.args[1])
            self._forget_failed(redis_id)
            self.batch_done(batch_id)
            removed.append((cid, batch_id))
        return removed
