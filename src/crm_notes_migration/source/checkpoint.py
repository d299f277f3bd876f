"""The extractor's checkpoint: a local SQLite file of what the API has acknowledged.

State is kept per (CRM database identity, cid) as a *pass*: a scan of the cid's in-scope
notes up to a high-water mark fixed when the pass starts. While a pass is open, a new
`run` resumes it after `acked_upto`, the last note id of the contiguous acknowledged
prefix, and skips batches already acknowledged past that prefix. Once a pass completes,
the next `run` opens a new pass over everything (so changed legacy notes are re-sent;
unchanged batches carry the same batch_id and the API answers them without new work).
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

#: Where the state lives when no `--state-file` is given (relative to the working directory).
DEFAULT_STATE_PATH = Path(".crm-notes-migrate") / "state.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS cid_pass (
  source      TEXT    NOT NULL,
  cid         INTEGER NOT NULL,
  pass_no     INTEGER NOT NULL,
  high_water  INTEGER NOT NULL,
  acked_upto  INTEGER NOT NULL,
  started_at  REAL    NOT NULL,
  completed_at REAL,
  PRIMARY KEY (source, cid)
);
CREATE TABLE IF NOT EXISTS acked_batch (
  source    TEXT    NOT NULL,
  cid       INTEGER NOT NULL,
  pass_no   INTEGER NOT NULL,
  batch_id  TEXT    NOT NULL,
  first_id  INTEGER NOT NULL,
  last_id   INTEGER NOT NULL,
  notes     INTEGER NOT NULL,
  accepted  INTEGER NOT NULL,
  rejected  INTEGER NOT NULL,
  acked_at  REAL    NOT NULL,
  PRIMARY KEY (source, cid, pass_no, batch_id)
);
"""


@dataclass(frozen=True, slots=True)
class CidPass:
    """One cid's current pass: resume after `acked_upto`, stop at `high_water`."""

    cid: int
    pass_no: int
    high_water: int
    acked_upto: int
    completed: bool
    resumed: bool


class Checkpoint:
    """Reads and writes the state file. Use from one thread only."""

    def __init__(self, path: Path, source: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self.source = source

    def close(self) -> None:
        self._db.close()

    def restart(self) -> None:
        """Forget every pass of this source (`--restart`)."""
        with self._db:
            self._db.execute("DELETE FROM cid_pass WHERE source = ?", (self.source,))
            self._db.execute("DELETE FROM acked_batch WHERE source = ?", (self.source,))

    def reset_cids(self, cids: list[int]) -> None:
        """Forget these cids' passes (a rollback): the next `run` starts them from scratch."""
        with self._db:
            for cid in cids:
                self._db.execute("DELETE FROM cid_pass WHERE source = ? AND cid = ?", (self.source, cid))
                self._db.execute("DELETE FROM acked_batch WHERE source = ? AND cid = ?", (self.source, cid))

    def open_pass(self, cid: int, current_max_id: int) -> CidPass:
        """Resume this cid's open pass, or start a new one with `current_max_id` as high-water mark."""
        row = self._db.execute(
            "SELECT pass_no, high_water, acked_upto, completed_at FROM cid_pass WHERE source = ? AND cid = ?",
            (self.source, cid),
        ).fetchone()
        if row is not None and row[3] is None:
            return CidPass(cid, row[0], row[1], row[2], completed=False, resumed=True)
        pass_no = (row[0] + 1) if row else 1
        with self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO cid_pass VALUES (?, ?, ?, ?, 0, ?, NULL)",
                (self.source, cid, pass_no, current_max_id, time.time()),
            )
            self._db.execute(
                "DELETE FROM acked_batch WHERE source = ? AND cid = ? AND pass_no < ?", (self.source, cid, pass_no)
            )
        return CidPass(cid, pass_no, current_max_id, 0, completed=False, resumed=False)

    def acked_batch_ids(self, cid: int, pass_no: int) -> set[str]:
        """Batch ids the API acknowledged in this pass (also past the contiguous prefix)."""
        rows = self._db.execute(
            "SELECT batch_id FROM acked_batch WHERE source = ? AND cid = ? AND pass_no = ?",
            (self.source, cid, pass_no),
        )
        return {r[0] for r in rows}

    def record_ack(
        self,
        cid: int,
        pass_no: int,
        batch_id: str,
        first_id: int,
        last_id: int,
        notes: int,
        accepted: int,
        rejected: int,
    ) -> None:
        """Remember one acknowledged batch (before the prefix may advance over it)."""
        self._db.execute(
            "INSERT OR REPLACE INTO acked_batch VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (self.source, cid, pass_no, batch_id, first_id, last_id, notes, accepted, rejected, time.time()),
        )

    def advance(self, cid: int, pass_no: int, acked_upto: int) -> None:
        """Move the contiguous acknowledged prefix of the pass to `acked_upto`."""
        self._db.execute(
            "UPDATE cid_pass SET acked_upto = ? WHERE source = ? AND cid = ? AND pass_no = ? AND acked_upto < ?",
            (acked_upto, self.source, cid, pass_no, acked_upto),
        )

    def complete(self, cid: int, pass_no: int) -> None:
        """Mark the pass done: every batch up to the high-water mark was acknowledged."""
        self._db.execute(
            "UPDATE cid_pass SET completed_at = ?, acked_upto = high_water"
            " WHERE source = ? AND cid = ? AND pass_no = ?",
            (time.time(), self.source, cid, pass_no),
        )

    def accepted_total(self, cid: int, pass_no: int) -> tuple[int, int]:
        """(accepted, rejected) notes summed over the pass's acknowledged batches."""
        row = self._db.execute(
            "SELECT COALESCE(SUM(accepted), 0), COALESCE(SUM(rejected), 0) FROM acked_batch"
            " WHERE source = ? AND cid = ? AND pass_no = ?",
            (self.source, cid, pass_no),
        ).fetchone()
        return int(row[0]), int(row[1])
