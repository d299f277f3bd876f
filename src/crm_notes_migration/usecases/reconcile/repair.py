"""`--repair`: re-send missing and mismatched notes through the migrate endpoint.

Batches are idempotent: `batch_id` is `repair:` + a hash of the body and of the stored state
being repaired, so re-running the same repair is no new work, while a note that went wrong
again since (a different stored state) gets a new batch.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Protocol

from crm_notes_migration.contract import CONTRACT_VERSION
from crm_notes_migration.usecases.reconcile.checks import as_utc


class BatchSender(Protocol):
    def post_batch(self, batch: dict[str, Any]) -> dict[str, Any]: ...


def _fingerprint(stored: dict[str, Any] | None) -> list[Any]:
    if stored is None:
        return ["missing"]
    updated = as_utc(stored.get("updated_at"))
    content = stored.get("content")
    digest = hashlib.sha256(content.encode("utf-8")).hexdigest() if isinstance(content, str) else None
    return [
        str(stored.get("_id")),
        digest,
        updated.isoformat() if updated else None,
        (stored.get("migration") or {}).get("content_sha256"),
    ]


def repair_batch_id(body: dict[str, Any], state: list[Any]) -> str:
    """`repair:` + sha256 of the batch body (without its id) and the repaired notes' stored state."""
    canonical = json.dumps([body, state], sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return "repair:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:40]


@dataclass
class Repairer:
    """A `RepairSink`: buffers notes per cid, posts a batch every `batch_size` notes."""

    client: BatchSender
    batch_size: int = 500
    sent: dict[int, list[int]] = field(default_factory=dict)
    rejected: list[dict[str, Any]] = field(default_factory=list)
    batches: list[str] = field(default_factory=list)
    _buffer: dict[int, list[tuple[dict[str, Any], list[Any]]]] = field(default_factory=dict)

    def __call__(self, cid: int, note: dict[str, Any], stored: dict[str, Any] | None) -> None:
        buffer = self._buffer.setdefault(cid, [])
        buffer.append((note, _fingerprint(stored)))
        if len(buffer) >= self.batch_size:
            self.flush(cid)

    def flush(self, cid: int | None = None) -> None:
        """Posts what is buffered (of one cid, or of all)."""
        for key in [cid] if cid is not None else list(self._buffer):
            items = self._buffer.pop(key, [])
            if not items:
                continue
            body: dict[str, Any] = {"contract_version": CONTRACT_VERSION, "cid": key, "notes": [n for n, _ in items]}
            batch_id = repair_batch_id(body, [s for _, s in items])
            body["batch_id"] = batch_id
            answer = self.client.post_batch(body)
            self.batches.append(batch_id)
            self.sent.setdefault(key, []).extend(int(n["legacy_crm_note_id"]) for n, _ in items)
            self.rejected.extend(answer.get("rejected") or [])

    @property
    def count(self) -> int:
        return sum(len(v) for v in self.sent.values())
