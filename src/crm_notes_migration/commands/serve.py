"""`serve`: the HTTP API under uvicorn."""

import logging

import typer

from crm_notes_migration.config import Settings
from crm_notes_migration.errors import FixableError


def serve(
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8080, help="Port to listen on."),
) -> None:
    """Serve the HTTP API (migrate and count endpoints). Needs MIGRATION_API_TOKEN.

    Example: MIGRATION_API_TOKEN=secret crm-notes-migrate serve --port 8080
    """
    settings = Settings()
    if not settings.migration_api_token:
        raise FixableError("MIGRATION_API_TOKEN is not set: set it to the bearer token clients must send")
    import uvicorn

    from crm_notes_migration.bootstrap import api_app
    from crm_notes_migration.memory import bound_heap_growth

    bound_heap_growth()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    uvicorn.run(api_app(settings), host=host, port=port, log_level="info")
