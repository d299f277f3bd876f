import typer


def retry_parked(cid: list[int] = typer.Option(None, "--cid", help="Only these companies.")) -> None:
    """Try parked notes again (after contacts were synced)."""
    raise typer.Exit("not implemented yet")  # issue 4
