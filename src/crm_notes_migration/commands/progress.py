"""Progress of `run` on stderr: bars on a terminal, plain lines in logs and CI."""

from __future__ import annotations

import sys
import time
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

#: Seconds between two plain progress lines when stderr is not a terminal.
LOG_EVERY_S = 5.0


class LogProgress:
    """Plain lines on stderr, for logs and CI."""

    def __init__(self, total: int) -> None:
        self.total, self.done, self._last = total, 0, 0.0
        self._per_cid: dict[int, list[int]] = {}

    def _say(self, line: str) -> None:
        print(f"[run] {line}", file=sys.stderr, flush=True)

    def start_cid(self, cid: int, total: int, done: int) -> None:
        self._per_cid[cid] = [done, total]
        self.done += done

    def advance(self, cid: int, notes: int) -> None:
        self._per_cid[cid][0] += notes
        self.done += notes
        if time.monotonic() - self._last >= LOG_EVERY_S:
            self._last = time.monotonic()
            self._say(f"{self.done}/{self.total} notes")

    def finish_cid(self, cid: int) -> None:
        done, total = self._per_cid.get(cid, [0, 0])
        self._say(f"cid {cid}: {done}/{total} notes handed over")

    def waiting(self, counts: dict[int, dict[str, Any]]) -> None:
        self.queued(sum(int(c.get("pending", 0)) for c in counts.values()))

    def queued(self, pending: int) -> None:
        if time.monotonic() - self._last >= LOG_EVERY_S:
            self._last = time.monotonic()
            self._say(f"waiting for the queue to drain: {pending} notes pending")

    def close(self) -> None:
        pass


class RichProgress:
    """An overall bar plus one bar per cid being sent, on a terminal."""

    def __init__(self, total: int, console: Console) -> None:
        self._bars = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self._overall = self._bars.add_task("all cids", total=total)
        self._tasks: dict[int, Any] = {}
        self._drain: TaskID | None = None
        self._bars.start()

    def start_cid(self, cid: int, total: int, done: int) -> None:
        self._tasks[cid] = self._bars.add_task(f"cid {cid}", total=total, completed=done)
        self._bars.advance(self._overall, done)

    def advance(self, cid: int, notes: int) -> None:
        self._bars.advance(self._tasks[cid], notes)
        self._bars.advance(self._overall, notes)

    def finish_cid(self, cid: int) -> None:
        self._bars.remove_task(self._tasks[cid])

    def waiting(self, counts: dict[int, dict[str, Any]]) -> None:
        self.queued(sum(int(c.get("pending", 0)) for c in counts.values()))

    def queued(self, pending: int) -> None:
        if self._drain is None:
            self._drain = self._bars.add_task("queue: pending", total=None)
        self._bars.update(self._drain, description=f"queue: {pending} pending")

    def close(self) -> None:
        self._bars.stop()
