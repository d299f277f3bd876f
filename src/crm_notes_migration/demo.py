import typer


def demo() -> None:
    """The embedded default: services, seed, API + worker, run, reconcile, QA report."""
    raise typer.Exit("not implemented yet")  # issue 5
