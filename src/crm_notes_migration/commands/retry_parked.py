"""`retry-parked`: parked notes run again, after contacts were synced."""

from collections import Counter

import typer

from crm_notes_migration.config import Settings


def retry_parked(cid: list[int] = typer.Option(None, "--cid", help="Only these companies.")) -> None:
    """Try parked notes again (after contacts were synced).

    Example: crm-notes-migrate retry-parked --cid 101 --cid 102
    """
    from crm_notes_migration import bootstrap
    from crm_notes_migration.usecases.retry_parked import retry_parked_notes

    settings = Settings()
    if cid:
        cids = sorted(set(cid))
    else:  # "every cid" is the CRM's list, never a read of the CDP's collections (SPEC §3)
        with bootstrap.crm_source(settings) as source:
            cids = source.known_cids()
    db = bootstrap.prepared_cdp_database(settings)
    results = retry_parked_notes(
        bootstrap.note_store(db),
        bootstrap.contact_resolver(db),
        bootstrap.transform_options(settings),
        cids,
    )
    still: Counter[str] = Counter()
    landed = 0
    for c, summary in sorted(results.items()):
        landed += len(summary.landed_ids)
        still.update(summary.parked)
        typer.echo(f"cid {c}: landed {len(summary.landed_ids)}, still parked {dict(summary.parked)}")
    typer.echo(
        f"retry-parked: {len(results)} cid(s), landed {landed}, still parked {sum(still.values())} {dict(still)}"
    )
