"""`serve`: the HTTP API under uvicorn."""

import logging

import typer

from crm_notes_migration.config import Settings


def serve(
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8080, help="Port to listen on."),
) -> None:
    """Serve the HTTP API (migrate and count endpoints). Needs MIGRATION_API_TOKEN.

    Example: MIGRATION_API_TOKEN=secret crm-notes-migrate serve --port 8080
    """
    settings = Settings()
    if not settings.migration_api_token:
        typer.echo("MIGRATION_API_TOKEN is not set: refusing to start", err=True)
        raise typer.Exit(2)
    import uvicorn

    from crm_notes_migration.bootstrap import api_app
    from crm_notes_migration.memory import bound_heap_growth

    bound_heap_growth()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    uvicorn.run(api_app(settings), host=host, port=port, log_level="info")
