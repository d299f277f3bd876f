"""`worker`: a thin command over the queue adapter."""
import logging

import typer

from ..config import Settings


def worker(threads: int = typer.Option(
        4, "--threads", min=1,  # queue.worker.DEFAULT_THREADS, not imported: keeps the CLI light
        help="Batches processed at once (threads mostly wait on the store: more than cores).")) -> None:
    """Run the ingestion consumer; run as many as wanted, on any machine.

    Example: crm-notes-migrate worker --threads 4
    """
    from .worker import run_worker

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    run_worker(Settings(), threads=threads)

