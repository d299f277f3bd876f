"""The heap settings of long-running commands (memory.py)."""

import ctypes
import ctypes.util
import platform
import subprocess
import sys

import pytest

from crm_notes_migration.memory import GC_THRESHOLDS, bound_heap_growth


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc only")
def test_glibc_accepts_the_settings_in_a_fresh_process():
    # in a child process: the settings stay with the process that makes them
    code = "from crm_notes_migration.memory import bound_heap_growth as b; print(b())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "True"


def test_commands_that_run_long_apply_them():
    import inspect

    from crm_notes_migration.commands import run, serve
    from crm_notes_migration.queue import worker

    for fn in (worker.consume, serve.serve, run.execute):
        assert "bound_heap_growth()" in inspect.getsource(fn), fn.__qualname__
    assert "settle_after_startup()" in inspect.getsource(worker.consume)


def test_settling_freezes_startup_objects_and_raises_the_thresholds():
    # in a child process: freezing is for the rest of the process's life
    code = (
        "import gc; from crm_notes_migration.memory import settle_after_startup as s; "
        "before = gc.get_freeze_count(); s(); print(before, gc.get_freeze_count(), *gc.get_threshold())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    before, frozen, *thresholds = map(int, out)
    assert before == 0 and frozen > 1000
    assert tuple(thresholds) == GC_THRESHOLDS


def test_cyclic_garbage_is_still_collected_automatically_after_settling():
    # cycles beyond the young threshold go without an explicit gc.collect() (with the
    # collector disabled, the first cycle would still be alive at the end)
    code = (
        "import gc, weakref; from crm_notes_migration.memory import settle_after_startup as s; s()\n"
        "class Node: pass\n"
        "def cycle():\n"
        "    a, b = Node(), Node(); a.peer, b.peer = b, a; return weakref.ref(a)\n"
        "first = cycle()\n"
        "for _ in range(300_000): cycle()\n"
        "print(first() is None)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["True"]


def test_without_glibc_nothing_is_done(monkeypatch):
    monkeypatch.setattr(ctypes.util, "find_library", lambda name: None)
    assert bound_heap_growth() is False
