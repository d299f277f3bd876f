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


def failed_jobs(
    requeue: bool = typer.Option(False, "--requeue", help="Put the failed jobs back on the queue."),
    discard: bool = typer.Option(False, "--discard", help="Drop the failed jobs; the next `run` re-sends their notes."),
    batch_id: list[str] = typer.Option(None, "--id", help="Only the jobs of these batch ids (repeatable)."),
) -> None:
    """List jobs that failed for good (dead-lettered); --requeue puts them back, --discard drops them.

    Example: crm-notes-migrate failed-jobs --requeue --id crm-101-1-500-0a1b2c

    A discarded job's batch record goes too, so its notes stop counting as pending and the
    next `run` sends them again as new work.
    """
    from .broker import BatchQueue, build_broker

    if requeue and discard:
        typer.echo("error: give --requeue or --discard, not both", err=True)
        raise typer.Exit(2)
    settings = Settings()
    queue = BatchQueue(build_broker(settings))
    wanted = set(batch_id) if batch_id else None
    jobs = [job for job in queue.failed_jobs() if wanted is None or str(job.args[1]) in wanted]
    for job in jobs:
        cid, bid, notes = job.args
        last = (job.options.get("traceback") or "").strip().splitlines()[-1:] or [queue.last_error(bid)]
        typer.echo(f"{bid}\tcid={cid}\tnotes={len(notes)}\tretries={job.options.get('retries', 0)}\t{last[0]}")
    typer.echo(f"{len(jobs)} failed job(s)")
    if requeue and jobs:
        typer.echo(f"requeued {queue.requeue_failed(wanted)} job(s)")
    if discard and jobs:
        from ..cdp.batches import BatchLedger
        from ..cdp.mongo import open_database
        from ..usecases.failed_jobs import discard_failed_jobs

        db = open_database(settings)
        try:
            gone = discard_failed_jobs(queue, BatchLedger(db), wanted)
        finally:
            db.client.close()
        typer.echo(f"discarded {len(gone)} job(s); the next `run` sends their notes again")
