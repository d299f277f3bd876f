"""CPU seconds of processes and of this machine's local services, for the benchmarks."""

from __future__ import annotations

from collections.abc import Iterable

import psutil


def process_cpu_s(proc: psutil.Process) -> float:
    """User + system CPU seconds of one process so far."""
    t = proc.cpu_times()
    return t.user + t.system


def local_service_cpu_s(names: Iterable[str]) -> dict[str, float]:
    """CPU seconds used so far by the local services of `names` that run, by name.
    `postgres` is the postmaster's own time, its exited backends' and its live ones';
    any other name sums the processes whose name starts with it (`ferretdb`,
    `redis-server`, `mongod`). Shared services: other users' load counts too."""
    names = tuple(names)
    out: dict[str, float] = {}
    for proc in psutil.process_iter(["name"]):
        try:
            name = proc.info["name"] or ""
            if name == "postgres" and "postgres" in names:
                parent = proc.parent()
                if parent is None or parent.name() == "postgres":
                    continue  # a backend: counted with its postmaster
                t = proc.cpu_times()  # the postmaster: its own time and its exited backends'
                total = t.user + t.system + t.children_user + t.children_system
                out["postgres"] = out.get("postgres", 0.0) + total + sum(process_cpu_s(c) for c in proc.children())
                continue
            for service in names:
                if service != "postgres" and name.startswith(service):
                    out[service] = out.get(service, 0.0) + process_cpu_s(proc)
                    break
        except psutil.Error:
            continue
    return out


def service_cpu_s() -> dict[str, float]:
    """CPU seconds used so far by the shared FerretDB and PostgreSQL (0.0 for one that does
    not run here). Shared services: other users' load counts too, so these are upper
    bounds for a run's share."""
    return {"ferretdb": 0.0, "postgres": 0.0, **local_service_cpu_s(("ferretdb", "postgres"))}
