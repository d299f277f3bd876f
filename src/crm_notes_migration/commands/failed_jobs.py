"""`failed-jobs`: list, requeue or discard the jobs that failed for good."""

from __future__ import annotations

from datetime import UTC, datetime

import typer

from crm_notes_migration.config import Settings


def failed_jobs(
    requeue: bool = typer.Option(False, "--requeue", help="Put the failed jobs back on the queue."),
    discard: bool = typer.Option(
        False, "--discard", help="Drop the failed jobs; the next `run` sends their notes again."
    ),
    ids: list[str] = typer.Option(None, "--id", help="Only these jobs (a batch id as listed; repeatable)."),
) -> None:
    """List the jobs that failed for good; requeue or discard them.

    --requeue puts them back on the queue; --discard drops them, and the next `run` sends
    their notes again.

    Example: crm-notes-migrate failed-jobs --discard --id crm-101-1-500-0123456789abcdef01234567
    """
    from crm_notes_migration import bootstrap
    from crm_notes_migration.cdp.batches import BatchLedger
    from crm_notes_migration.usecases.failed_jobs import (
        UnknownJob,
        discard_failed_jobs,
        list_failed_jobs,
        requeue_failed_jobs,
    )

    if requeue and discard:
        typer.echo("error: --requeue and --discard exclude each other; give one", err=True)
        raise typer.Exit(2)
    settings = Settings()
    queue = bootstrap.batch_queue(settings)
    wanted = set(ids or ())
    jobs = [j for j in list_failed_jobs(queue) if not wanted or wanted & {j.batch_id, j.message_id}]
    for job in jobs:
        typer.echo(f"{job.batch_id}\tcid={job.cid}\tnotes={job.notes}\tretries={job.retries}\t{job.error}")
    typer.echo(f"{len(jobs)} failed job(s)")
    try:
        if requeue and jobs:
            typer.echo(f"requeued {requeue_failed_jobs(queue, list(ids or ()))} job(s)")
        elif discard and jobs:
            db = bootstrap.cdp_database(settings)
            try:
                dropped = discard_failed_jobs(queue, BatchLedger(db), datetime.now(UTC), list(ids or ()))
            finally:
                db.client.close()
            typer.echo(f"discarded {len(dropped)} job(s); the next `run` sends their notes again")
    except UnknownJob as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    if wanted and len(jobs) == 0:
        typer.echo(f"error: no failed job has the id {sorted(wanted)[0]!r} (failed-jobs lists them)", err=True)
        raise typer.Exit(2)
