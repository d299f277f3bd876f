"""`worker`: the ingestion consumer."""

import logging

import typer

from crm_notes_migration.config import Settings
from crm_notes_migration.queue.worker import DEFAULT_THREADS


def worker(
    threads: int = typer.Option(
        DEFAULT_THREADS,
        "--threads",
        min=1,
        help="Batches processed at once (threads mostly wait on the store: more than cores).",
    ),
) -> None:
    """Run the ingestion consumer; run as many as wanted, on any machine.

    Example: crm-notes-migrate worker --threads 4
    """
    from crm_notes_migration.bootstrap import run_worker

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    run_worker(Settings(), threads=threads)
