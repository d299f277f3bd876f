"""`worker` and `failed-jobs`: thin commands over the queue adapter."""
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


def failed_jobs(requeue: bool = typer.Option(False, "--requeue", help="Put every failed job back on the queue.")) -> None:
    """List jobs that failed for good (dead-lettered); --requeue puts them back.

    Example: crm-notes-migrate failed-jobs --requeue
    """
    from .broker import BatchQueue, build_broker

    queue = BatchQueue(build_broker(Settings()))
    jobs = queue.failed_jobs()
    for job in jobs:
        cid, batch_id, notes = job.args
        last = (job.options.get("traceback") or "").strip().splitlines()[-1:] or [queue.last_error(batch_id)]
        typer.echo(f"{batch_id}\tcid={cid}\tnotes={len(notes)}\tretries={job.options.get('retries', 0)}\t{last[0]}")
    typer.echo(f"{len(jobs)} failed job(s)")
    if requeue and jobs:
        typer.echo(f"requeued {queue.requeue_failed()} job(s)")
