"""The demo: from nothing to a QA report (`crm-notes-migrate demo` calls `run_demo`).

Brings up the local services (scripts/services.sh), seeds a synthetic CRM and its CDP
contacts/users into the demo's own databases (`crm_demo`, `cdp_demo`, Redis namespace
`crm-notes-demo`), starts the API and one worker as child processes with a generated
token, runs the extractor and reconcile, prints the summary and stops what it started.
It seeds only databases the seed made (seed/guard.py), and checks at the end that the
CDP-authored notes of the seed are untouched.
"""

from __future__ import annotations

import secrets
import subprocess
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from rich.console import Console

from crm_notes_migration.config import Settings

DEMO_CRM_DATABASE = "crm_demo"
DEMO_CDP_DATABASE = "cdp_demo"
DEMO_QUEUE_NAMESPACE = "crm-notes-demo"
#: Random notes per cid in the demo's report (besides one of every hard case): keeps it light.
DEMO_SAMPLE = 2
#: The repository's services script, when the package runs from a checkout.
SERVICES_SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "services.sh"


def demo_settings(base: Settings) -> Settings:
    """The demo's own databases, queue namespace and a fresh token, on the configured servers."""
    url = urlsplit(base.crm_database_url)
    return base.model_copy(
        update={
            "crm_database_url": urlunsplit(url._replace(path=f"/{DEMO_CRM_DATABASE}")),
            "cdp_mongodb_db": DEMO_CDP_DATABASE,
            "queue_namespace": DEMO_QUEUE_NAMESPACE,
            "migration_api_token": secrets.token_urlsafe(24),
        }
    )


def _services_up(console: Console) -> None:
    if SERVICES_SCRIPT.exists():
        console.print("[bold]1/5[/bold] local services (scripts/services.sh up)")
        subprocess.run([str(SERVICES_SCRIPT), "up"], check=True)
    else:
        console.print("[bold]1/5[/bold] scripts/services.sh not found: using the configured services as they are")


def _forget_queue(settings: Settings) -> None:
    """Jobs left by an interrupted earlier demo would count as pending: drop the demo's keys."""
    import redis

    r = redis.Redis.from_url(settings.redis_url)
    keys = list(r.scan_iter(f"{settings.queue_namespace}*", count=1000))
    if keys:
        r.delete(*keys)
    r.close()


def _fix(database: str, variable: str) -> str:
    return (
        f"the demo uses its own database {database} on the {variable} server: drop it if an older "
        f"demo made it, or point {variable} at another server"
    )


def _check_cdp_authored(settings: Settings, seeded):
    """The seed's CDP-authored notes after the run (seed/verify.py)."""
    import pymongo

    from crm_notes_devtools.seed.verify import check_cdp_authored

    client: pymongo.MongoClient = pymongo.MongoClient(settings.cdp_mongodb_uri)
    try:
        return check_cdp_authored(client[settings.cdp_mongodb_db], seeded)
    finally:
        client.close()


def run_demo(base: Settings, notes: int, cids: int, seed: int, report: Path) -> int:
    """The demo with its options; returns the exit code."""
    from crm_notes_devtools.seed.guard import ForeignDatabase
    from crm_notes_devtools.seed.loader import load_seed
    from crm_notes_devtools.stack import LocalStack, cli_command, settings_env
    from crm_notes_migration.commands.run import execute

    console = Console(stderr=True)
    started = time.perf_counter()
    settings = demo_settings(base)
    workdir = Path.cwd() / ".crm-notes-migrate" / "demo"
    stack: LocalStack | None = None
    try:
        _services_up(console)
        console.print(
            f"[bold]2/5[/bold] seeding {notes} notes over {cids} cids into "
            f"{DEMO_CRM_DATABASE} (PostgreSQL) and {DEMO_CDP_DATABASE} (MongoDB)"
        )
        _forget_queue(settings)
        try:
            seeded = load_seed(
                settings,
                notes,
                cids,
                seed,
                crm_fix=_fix(DEMO_CRM_DATABASE, "CRM_DATABASE_URL"),
                cdp_fix=_fix(DEMO_CDP_DATABASE, "CDP_MONGODB_URI"),
            )
        except ForeignDatabase as exc:
            console.print(str(exc), markup=False, highlight=False, soft_wrap=True)
            return 2
        expectations = seeded.to_json()
        console.print("[bold]3/5[/bold] starting the API and one worker")
        stack = LocalStack(settings, workdir).start()
        console.print(f"        API {stack.settings.migration_api_url} (logs in {workdir})")
        console.print("[bold]4/5[/bold] crm-notes-migrate run")
        outcome: dict = {}
        code = execute(
            stack.settings,
            None,
            500,
            4,
            False,
            workdir / "state.sqlite",
            restart=True,
            wait=True,
            json_out=False,
            on_report=lambda r: outcome.update(report=r),
        )
        if outcome.get("report") is not None and outcome["report"].interrupted:
            console.print("interrupted")
            return 130
        console.print(f"[bold]5/5[/bold] crm-notes-migrate reconcile --report {report} --sample {DEMO_SAMPLE}")
        report.parent.mkdir(parents=True, exist_ok=True)
        rec = subprocess.run(
            cli_command("reconcile", "--report", str(report), "--sample", str(DEMO_SAMPLE)),
            env=settings_env(stack.settings),
        )
        untouched = _check_cdp_authored(settings, seeded)
        totals = expectations["totals"]
        console.print(
            f"\n[bold]demo done in {time.perf_counter() - started:.0f}s[/bold]: seeded {totals['notes']} notes, "
            f"{totals['in_scope']} in scope; expected {totals['migrated']} migrated and "
            f"{sum(totals['parked'].values())} parked; run exit {code}, reconcile exit {rec.returncode}"
        )
        console.print(
            f"CDP notes untouched: {untouched.untouched} of {untouched.expected}"
            + ("" if untouched.ok else " (the migration changed or deleted CDP-authored notes)")
        )
        if report.exists():
            console.print(
                f"QA report ({report.stat().st_size / 1e6:.1f} MB, open it in a browser): {report.resolve().as_uri()}"
            )
        else:
            console.print("no QA report was written (see reconcile's output above)")
        return 0 if code == 0 and rec.returncode == 0 and untouched.ok else 1
    except KeyboardInterrupt:
        console.print("interrupted: stopping what the demo started")
        return 130
    finally:
        if stack is not None:
            stack.stop()
