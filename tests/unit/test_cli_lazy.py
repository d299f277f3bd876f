"""The CLI imports a command's module only when that command is used, and shows and runs
exactly what the eagerly built application did."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest
import typer
from typer.testing import CliRunner

from crm_notes_migration import cli

ENV = {"COLUMNS": "200", "NO_COLOR": "1"}
HEAVY = ("pymongo", "fastapi", "starlette", "uvicorn", "dramatiq", "redis", "prometheus_client")


def _eager_app() -> typer.Typer:
    """What cli.py built before: every command module imported and registered up front."""
    app = typer.Typer(
        name="crm-notes-migrate",
        help="Migrate legacy CRM contact notes into the CDP's contact_notes, safely and repeatably.",
        no_args_is_help=True,
        add_completion=False,
        rich_markup_mode="markdown",
    )
    app.callback()(cli.main_options)
    for name, (module, attr) in cli.COMMANDS.items():
        app.command(name)(getattr(importlib.import_module(module), attr))
    return app


@pytest.mark.parametrize("args", [[], ["--help"], ["nosuch"], ["rn"]] + [[c, "--help"] for c in cli.COMMANDS])
def test_same_output_as_the_eager_app(args):
    lazy = CliRunner().invoke(cli.app, args, env=ENV)
    eager = CliRunner().invoke(_eager_app(), args, env=ENV)
    assert (lazy.exit_code, lazy.output) == (eager.exit_code, eager.output)


def test_every_command_is_registered_in_order():
    assert [c.name for c in cli.app.registered_commands] == list(cli.COMMANDS)


def test_run_does_not_import_the_other_commands_modules():
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from crm_notes_migration.cli import app\n"
        "result = CliRunner().invoke(app, ['run', '--help'])\n"
        "assert result.exit_code == 0, result.output\n"
        "assert 'crm_notes_migration.commands.run' in sys.modules\n"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
