import typer


def worker() -> None:
    """Run the ingestion consumer; run as many as wanted, on any machine."""
    raise typer.Exit("not implemented yet")  # issue 4


def failed_jobs(requeue: bool = typer.Option(False, help="Put every failed job back on the queue.")) -> None:
    """List jobs that failed for good (dead-lettered); --requeue puts them back."""
    raise typer.Exit("not implemented yet")  # issue 4
