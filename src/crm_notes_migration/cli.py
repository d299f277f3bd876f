"""`crm-notes-migrate`: the command line (SPEC §8). Each command translates its options
into one call of a use case; the use cases live in their own modules."""
from __future__ import annotations

import typer

from .api.command import serve
from .extract_command import run
from .demo import demo
from .queue.command import failed_jobs, worker
from .reconcile.command import reconcile
from .retry_command import retry_parked
from .seed.command import seed

app = typer.Typer(
    name="crm-notes-migrate",
    help="Migrate legacy CRM contact notes into the CDP's contact_notes, safely and repeatably.",
    no_args_is_help=True,
    add_completion=False,
)

app.command("demo")(demo)
app.command("seed")(seed)
app.command("serve")(serve)
app.command("worker")(worker)
app.command("run")(run)
app.command("retry-parked")(retry_parked)
app.command("reconcile")(reconcile)
app.command("failed-jobs")(failed_jobs)

if __name__ == "__main__":  # pragma: no cover
    app()
