"""The real `worker` command with the transform made cheaper than it can be: an upper
bound of what a faster transform could give `bench.ingest`, not a way to run.

    python -m bench.what_if_worker MODE RESULTS_PICKLE [worker options…]

MODE:
- `transform-free`: `transform_note` returns its result precomputed for the same note
  (RESULTS_PICKLE: `{(cid, legacy_crm_note_id): TransformResult}`), so the transform
  costs a dict lookup; everything else (decoding, validation, resolving, writes, parking,
  the ledger) is the worker's own code.
- `sanitise-only`: the same, after one nh3 pass over the note's content with the
  sanitiser's allowlists and no Python attribute callback (the cheapest nh3
  configuration): what any transform that sanitises with nh3 cannot avoid.
"""

from __future__ import annotations

import pickle
import sys

import nh3

import crm_notes_migration.usecases.ingest as ingest
from crm_notes_migration.cli import app
from crm_notes_migration.transform.html import cleaner_options

MODES = ("transform-free", "sanitise-only")


def main() -> None:
    mode, path, *worker_args = sys.argv[1:]
    if mode not in MODES:
        raise SystemExit(f"mode must be one of {MODES}, not {mode!r}")
    with open(path, "rb") as f:
        results = pickle.load(f)
    bare = nh3.Cleaner(**cleaner_options())  # the sanitiser's, without its Python callback
    sanitise = mode == "sanitise-only"

    def transform_note(cid, note, resolution, options):
        if sanitise and note.content_html:
            bare.clean(note.content_html)
        return results[(cid, note.legacy_crm_note_id)]

    if not hasattr(ingest, "transform_note"):  # else the worker would run the real transform
        raise SystemExit("crm_notes_migration.usecases.ingest no longer calls transform_note by that name")
    ingest.transform_note = transform_note  # what `ingest_notes` calls
    sys.argv = ["crm-notes-migrate", "worker", *worker_args]
    app()


if __name__ == "__main__":
    main()
