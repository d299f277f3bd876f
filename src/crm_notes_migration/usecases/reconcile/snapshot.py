"""Where reconcile reads the CDP side of a cid: the store adapter's streams
(`cdp.note_streams`), which choose per-cid index ranges or, on FerretDB, one pass spilled
to disk, and read only the asked cids' migration documents and parked records."""

from __future__ import annotations

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

__all__ = [
    "NO_ID",
    "PROJECTIONS",
    "SNAPSHOT_MIN_CIDS",
    "CidStores",
    "IndexedStreams",
    "note_id_of",
    "open_streams",
    "reopen_streams",
]
