"""`crm-notes-migrate`: the command line (SPEC §8). Each command translates its options
into one call of a use case; the use cases live in their own modules.

A command's module is imported only when that command is looked up (to run it or to show
its help), so `run` starts without the API's, the worker's or the CDP store's imports
(FastAPI, dramatiq, pymongo ...). `app.registered_commands` still names every command.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, MutableMapping
from typing import Any

import typer
import typer.main
from typer.core import TyperGroup

#: command name → (module, function), in the order `--help` lists them: each command is the
#: function of its name in `commands/<name>.py`.
COMMANDS: dict[str, tuple[str, str]] = {
    name: (f"crm_notes_migration.commands.{name.replace('-', '_')}", name.replace("-", "_"))
    for name in (
        "demo",
        "seed",
        "serve",
        "worker",
        "run",
        "retry-parked",
        "reconcile",
        "signoff",
        "rollback",
        "status",
        "failed-jobs",
    )
}


def load_command(
    name: str, *, pretty_exceptions_short: bool = True, rich_markup_mode: Any = typer.core.DEFAULT_MARKUP_MODE
) -> typer.core.TyperCommand:
    """The click command of `name`, built exactly as `app.command(name)(function)` would."""
    module, attr = COMMANDS[name]
    function = getattr(importlib.import_module(module), attr)
    one = typer.Typer()
    one.command(name)(function)
    command = typer.main.get_command_from_info(
        one.registered_commands[0],
        pretty_exceptions_short=pretty_exceptions_short,
        rich_markup_mode=rich_markup_mode,
    )
    assert isinstance(command, typer.core.TyperCommand)
    return command


class _LazyCommands(MutableMapping):
    """The group's name → command mapping, building each command on first lookup."""

    def __init__(self, group: LazyGroup) -> None:
        self._group = group
        self._loaded: dict[str, Any] = {}
        self._extra: dict[str, Any] = {}

    def __getitem__(self, name: str) -> Any:
        if name in self._extra:
            return self._extra[name]
        if name not in COMMANDS:
            raise KeyError(name)
        if name not in self._loaded:
            self._loaded[name] = load_command(
                name,
                pretty_exceptions_short=self._group.pretty_exceptions_short,
                rich_markup_mode=self._group.rich_markup_mode,
            )
        return self._loaded[name]

    def __setitem__(self, name: str, command: Any) -> None:
        self._extra[name] = command

    def __delitem__(self, name: str) -> None:
        del self._extra[name]

    def __iter__(self) -> Iterator[str]:
        yield from COMMANDS
        yield from (n for n in self._extra if n not in COMMANDS)

    def __len__(self) -> int:
        return len(COMMANDS) + sum(1 for n in self._extra if n not in COMMANDS)

    def __contains__(self, name: object) -> bool:
        return name in COMMANDS or name in self._extra


class LazyGroup(TyperGroup):
    """The top-level group: its commands come from COMMANDS, imported on lookup; the
    placeholder commands typer builds from `app.registered_commands` are dropped."""

    pretty_exceptions_short = True

    def __init__(self, **attrs: Any) -> None:
        attrs.pop("commands", None)
        super().__init__(**attrs)
        self.commands = _LazyCommands(self)

    def invoke(self, ctx: Any) -> Any:
        """Run the command; an error a user can fix becomes one line and exit code 2
        (commands/errors.py), unless `--debug` asks for the traceback."""
        try:
            return super().invoke(ctx)
        except Exception as exc:
            if ctx.params.get("debug"):
                raise
            from .commands.errors import USAGE_EXIT_CODE, one_line

            line = one_line(exc)
            if line is None:
                raise
            typer.echo(f"error: {line}", err=True)
            raise typer.Exit(USAGE_EXIT_CODE) from None


def _placeholder() -> None:  # pragma: no cover - LazyGroup never invokes it
    raise RuntimeError("the command's module was not loaded")


app = typer.Typer(
    name="crm-notes-migrate",
    help="Migrate legacy CRM contact notes into the CDP's contact_notes, safely and repeatably.",
    no_args_is_help=True,
    add_completion=False,
    cls=LazyGroup,
    rich_markup_mode="markdown",  # a docstring's paragraphs are rewrapped, not cut at its line ends
)
LazyGroup.pretty_exceptions_short = app.pretty_exceptions_short


def main_options(
    debug: bool = typer.Option(False, "--debug", help="Show the traceback of an error instead of one line."),
) -> None:
    """Options of every command (given before the command's name)."""


app.callback()(main_options)

for _name in COMMANDS:
    app.command(_name)(_placeholder)

if __name__ == "__main__":  # pragma: no cover
    app()
