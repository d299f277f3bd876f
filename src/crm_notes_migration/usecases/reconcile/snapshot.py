"""Where reconcile reads the CDP side of a cid: the store adapter's streams
(`cdp.note_streams`), which choose per-cid index ranges or, on FerretDB, one pass spilled
to disk, and read only the asked cids' migration documents and parked records; and the
private directory that spill goes into."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from crm_notes_migration.cdp.note_streams import (
    NO_ID,
    PROJECTIONS,
    SNAPSHOT_MIN_CIDS,
    CidStores,
    IndexedStreams,
    note_id_of,
    open_streams,
    reopen_streams,
)

#: A reconcile's snapshot directory: this prefix, its process id, a random part.
DIRECTORY_PREFIX = "crm-notes-reconcile-"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


@contextmanager
def snapshot_directory(parent: Path | None = None) -> Iterator[Path]:
    """A private directory for the snapshot, removed at the end. First removes those left
    by reconciles that were killed before their end (their process is gone): a snapshot
    holds every asked document, gigabytes at millions of notes."""
    parent = Path(parent or tempfile.gettempdir())
    for stale in parent.glob(f"{DIRECTORY_PREFIX}*-*"):
        pid = stale.name[len(DIRECTORY_PREFIX) :].split("-", 1)[0]
        if pid.isdigit() and stale.is_dir() and not _alive(int(pid)):
            shutil.rmtree(stale, ignore_errors=True)
    with tempfile.TemporaryDirectory(prefix=f"{DIRECTORY_PREFIX}{os.getpid()}-", dir=parent) as tmp:
        yield Path(tmp)


__all__ = [
    "NO_ID",
    "PROJECTIONS",
    "SNAPSHOT_MIN_CIDS",
    "CidStores",
    "IndexedStreams",
    "note_id_of",
    "open_streams",
    "reopen_streams",
    "snapshot_directory",
]
