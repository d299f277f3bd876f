"""The one place where an error a user meets becomes one line (SPEC §8).

A wrong setting, an unreachable service, a missing table or an unknown `--cid` is one
line on stderr naming what is wrong and the variable or flag to fix, with exit code 2
and no traceback (`--debug` shows it). The CLI's group calls `one_line` on whatever a
command raises; an error it does not know (a bug) keeps its traceback.

Nothing heavy is imported here: an exception of pymongo, redis or psycopg can only be
raised once its library was imported, so the checks look into `sys.modules`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from crm_notes_migration.errors import FixableError, masked

#: Exit code of an error a user can fix (SPEC §8).
USAGE_EXIT_CODE = 2


def _setting(variable: str) -> str:
    """`VARIABLE=value` (password masked) as the environment and `.env` give it now."""
    try:
        from crm_notes_migration.config import Settings

        value = getattr(Settings(), variable.lower())
    except Exception:  # the settings themselves are wrong: name the variable alone
        return variable
    return f"{variable}={masked(str(value))}"


def _first_line(exc: BaseException, limit: int = 300) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:limit]


def _settings_error(exc: BaseException) -> str | None:
    pydantic_core = sys.modules.get("pydantic_core")
    if pydantic_core is None or not isinstance(exc, pydantic_core.ValidationError):
        return None
    if exc.title != "Settings":
        return None
    errors = exc.errors()
    first = errors[0]
    variable = str(first["loc"][0]).upper() if first.get("loc") else "a setting"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    message = str(first.get("msg", "invalid")).removeprefix("Value error, ")
    return f"invalid setting {variable}={first.get('input')!r}: {message}; fix {variable}{more}"


def _crm_error(exc: BaseException) -> str | None:
    psycopg = sys.modules.get("psycopg")
    if psycopg is None or not isinstance(exc, psycopg.Error):
        return None
    where = _setting("CRM_DATABASE_URL")
    if isinstance(exc, psycopg.errors.UndefinedTable | psycopg.errors.UndefinedColumn):
        return f"the CRM database lacks SPEC §2's tables ({_first_line(exc)}): is {where} the legacy CRM?"
    if isinstance(exc, psycopg.OperationalError):
        return f"the CRM database is unreachable ({_first_line(exc)}): check {where}"
    return f"the CRM database refused a query ({_first_line(exc)}): check {where}"


def _store_error(exc: BaseException) -> str | None:
    errors = sys.modules.get("pymongo.errors")
    if errors is None or not isinstance(exc, errors.PyMongoError):
        return None
    where = _setting("CDP_MONGODB_URI")
    detail = _first_line(exc).split(", Timeout:")[0]
    if isinstance(exc, errors.ConnectionFailure):
        return f"the CDP store is unreachable ({detail}): check {where}"
    if isinstance(exc, errors.OperationFailure) and exc.code in (13, 18):
        return f"the CDP store refused the credentials ({detail}): check {where}"
    return f"the CDP store failed ({detail}): check {where} and CDP_MONGODB_DB"


def _redis_error(exc: BaseException) -> str | None:
    redis = sys.modules.get("redis")
    if redis is None or not isinstance(exc, redis.exceptions.ConnectionError | redis.exceptions.TimeoutError):
        return None
    return f"Redis is unreachable ({_first_line(exc)}): check {_setting('REDIS_URL')}"


def _own_error(exc: BaseException) -> str | None:
    """Errors of this package that already say what to fix."""
    if isinstance(exc, FixableError):
        return _first_line(exc, 500)
    client = sys.modules.get("crm_notes_migration.client")
    if client is not None and isinstance(exc, client.MigrationApiError) and exc.status in (401, 403):
        return f"the API refused the token ({_first_line(exc)}): check MIGRATION_API_TOKEN"
    return None


_TRANSLATORS: tuple[Callable[[BaseException], str | None], ...] = (
    _own_error,
    _settings_error,
    _crm_error,
    _store_error,
    _redis_error,
)


def one_line(exc: BaseException) -> str | None:
    """The one line to show for `exc`, or None when it is not an error a user can fix."""
    for translate in _TRANSLATORS:
        line = translate(exc)
        if line is not None:
            return " ".join(line.split())
    return None
