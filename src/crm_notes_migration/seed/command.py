import typer


def seed(
    notes: int = typer.Option(21000, help="How many notes."),
    cids: int = typer.Option(130, help="How many companies."),
    seed: int = typer.Option(42, help="Random seed; the same seed gives the same data."),
    json_out: bool = typer.Option(False, "--json", help="Print the expected outcome as JSON."),
) -> None:
    """Create the synthetic CRM and its CDP contacts/users, deterministically."""
    raise typer.Exit("not implemented yet")  # issue 2
