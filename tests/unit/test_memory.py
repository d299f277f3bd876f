"""The heap settings of long-running commands (memory.py)."""
import ctypes
import ctypes.util
import platform
import subprocess
import sys

import pytest

from crm_notes_migration.memory import bound_heap_growth


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc only")
def test_glibc_accepts_the_settings_in_a_fresh_process():
    # in a child process: the settings stay with the process that makes them
    code = "from crm_notes_migration.memory import bound_heap_growth as b; print(b())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "True"


def test_commands_that_run_long_apply_them():
    import inspect

    from crm_notes_migration import extract_command
    from crm_notes_migration.api import command as api_command
    from crm_notes_migration.queue import worker

    for fn in (worker.run_worker, api_command.serve, extract_command.execute):
        assert "bound_heap_growth()" in inspect.getsource(fn), fn.__qualname__


def test_without_glibc_nothing_is_done(monkeypatch):
    monkeypatch.setattr(ctypes.util, "find_library", lambda name: None)
    assert bound_heap_growth() is False
