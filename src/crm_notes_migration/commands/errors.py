"""One line on stderr, exit 2, for the failures a user fixes with a setting (SPEC §8)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer


@contextmanager
def one_line_errors() -> Iterator[None]:
    """Turn an unreachable CRM, CDP or API into one line naming the variable to fix."""
    import psycopg
    import pymongo.errors

    from ..client import MigrationApiError

    try:
        yield
    except psycopg.OperationalError as exc:
        _fail(f"the CRM database is unreachable ({str(exc).strip().splitlines()[0][:200]}): check CRM_DATABASE_URL")
    except pymongo.errors.ConnectionFailure as exc:
        _fail(f"the CDP MongoDB is unreachable ({str(exc)[:200]}): check CDP_MONGODB_URI")
    except MigrationApiError as exc:
        _fail(f"{exc}: check MIGRATION_API_URL and MIGRATION_API_TOKEN, and that `serve` runs")


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)
