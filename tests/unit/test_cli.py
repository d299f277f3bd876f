"""Every command and flag of SPEC §8 exists with the exact name, and each documents itself."""

import pytest
from typer.testing import CliRunner

from crm_notes_migration.cli import app

SPEC_COMMANDS = {
    "demo": [],
    "seed": ["--notes", "--cids", "--seed"],
    "serve": ["--host", "--port"],
    "worker": [],
    "run": ["--cid", "--batch-size", "--concurrency", "--dry-run", "--state-file", "--restart", "--no-wait", "--json"],
    "retry-parked": ["--cid"],
    "reconcile": ["--cid", "--report", "--sample", "--repair", "--json"],
    "rollback": ["--cid", "--all", "--dry-run", "--include-edited", "--json"],
    "status": ["--cid", "--json"],
    "signoff": ["--reviewer", "--json"],
    "failed-jobs": ["--requeue", "--discard", "--id"],
}


@pytest.mark.parametrize("command,flags", SPEC_COMMANDS.items())
def test_spec_command_has_its_flags_and_help(command, flags):
    result = CliRunner().invoke(app, [command, "--help"], env={"COLUMNS": "200", "NO_COLOR": "1"})
    assert result.exit_code == 0, result.output
    for flag in flags:
        assert flag in result.output, f"{command} lacks {flag}"
    first_line = result.output.strip().splitlines()
    assert any(line.strip() for line in first_line[1:]), "no help text"


def test_every_registered_command_is_documented_in_the_readme():
    from tests.conftest import ROOT

    readme = (ROOT / "README.md").read_text()
    names = [c.name for c in app.registered_commands]
    assert set(SPEC_COMMANDS) <= set(names)
    for name in names:
        assert f"| `{name}" in readme, f"README's command table lacks {name}"


@pytest.mark.parametrize("args", [["rollback"], ["rollback", "--cid", "1", "--all"]])
def test_rollback_wants_either_cids_or_all(args):
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
    assert "give --cid ID (repeatable) or --all" in result.output


def test_help_rewraps_a_docstring_paragraph_instead_of_keeping_its_line_ends():
    result = CliRunner().invoke(app, ["run", "--help"], env={"COLUMNS": "200", "NO_COLOR": "1"})
    assert "after a completed run, the next run scans everything again" in result.output
