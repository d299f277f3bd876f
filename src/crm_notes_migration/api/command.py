import typer


def serve(
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8080, help="Port to listen on."),
) -> None:
    """Serve the HTTP API (migrate and count endpoints)."""
    raise typer.Exit("not implemented yet")  # owned by the CDP-ingestion work (issue 4)
