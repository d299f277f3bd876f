"""`failed-jobs`: the jobs that failed for good, listed or requeued."""

import typer

from crm_notes_migration.config import Settings


def failed_jobs(requeue: bool = typer.Option(False, "--requeue", help="Put every failed job back on the queue.")) -> None:
    """List jobs that failed for good (dead-lettered); --requeue puts them back.

    Example: crm-notes-migrate failed-jobs --requeue
    """
    from crm_notes_migration.bootstrap import batch_queue

    queue = batch_queue(Settings())
    jobs = queue.failed_jobs()
    for job in jobs:
        cid, batch_id, notes = job.args
        last = (job.options.get("traceback") or "").strip().splitlines()[-1:] or [queue.last_error(batch_id)]
        typer.echo(f"{batch_id}\tcid={cid}\tnotes={len(notes)}\tretries={job.options.get('retries', 0)}\t{last[0]}")
    typer.echo(f"{len(jobs)} failed job(s)")
    if requeue and jobs:
        typer.echo(f"requeued {queue.requeue_failed()} job(s)")
