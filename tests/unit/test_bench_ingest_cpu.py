"""`bench.ingest`'s CPU accounting (`LocalCpu`) counts what ran, in the group it belongs to."""

from __future__ import annotations

import subprocess
import sys
import time

import bench.ingest as bench_ingest
import psutil
from bench.ingest import LocalCpu

#: A child that burns 0.4 s of CPU when told to, says so, and lives until its stdin closes
#: (the CPU of a process that ended before the block's end is not counted).
CHILD = (
    "import sys, time\nsys.stdin.readline()\nt = time.process_time()\n"
    "while time.process_time() - t < 0.4:\n    pass\nprint('done', flush=True)\nsys.stdin.read()\n"
)


def test_a_watched_process_and_this_one_are_counted():
    child = subprocess.Popen([sys.executable, "-c", CHILD], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        with LocalCpu([psutil.Process(child.pid)]) as local:
            child.stdin.write(b"go\n")
            child.stdin.flush()
            assert child.stdout.readline() == b"done\n"  # its 0.4 s were burnt inside the block
            t = time.process_time()
            while time.process_time() - t < 0.2:
                pass
        child.stdin.close()
        assert child.wait(30) == 0
    finally:
        child.kill()
    # the local services' CPU is whatever else uses them meanwhile (a shared machine): left out
    mine = local.all_s - (local.store_s or 0.0) - local.queue_s
    assert 0.55 <= mine <= 0.9  # 0.4 s (child) + 0.2 s (this process), each counted once
    assert local.watched_s >= 0.38
    assert local.elapsed_s >= 0.55
    assert local.busy_cores() >= mine / local.elapsed_s


def test_no_local_store_process_gives_no_store_figure(monkeypatch):
    monkeypatch.setattr(bench_ingest, "STORE_PROCESSES", ("no-such-store-process",))
    with LocalCpu() as local:
        pass
    assert local.store_s is None


def test_a_process_named_like_the_store_counts_as_store(monkeypatch):
    monkeypatch.setattr(bench_ingest, "STORE_PROCESSES", (psutil.Process().name(),))
    with LocalCpu() as local:
        t = time.process_time()
        while time.process_time() - t < 0.2:
            pass
    assert local.store_s is not None and local.store_s >= 0.15
