"""The transform of several commits side by side, in one process, on the seed's note mix.

    python -m bench.transform_compare REV [REV ...] [--rounds 3] [--notes N]

Each REV's `transform/` (with its `contract.py` and `config.py`) is taken from git into a
package of its own in a scratch folder; `.` stands for the working tree. All of them then
run `transform_note` on the same notes, chunk by chunk in rotating order, so that the
shared machine's changes of speed fall on every version alike. Inputs are built before
timing and frozen out of the garbage collector's view, as in `bench.transform`. Figures:
notes/s per core (thread CPU time) per round, and each version's speed over the first's.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType

from .transform import Case, seed_mix

PACKAGE_FILES = ("transform", "contract.py", "config.py")
CHUNK = 50


def export(rev: str, root: Path, name: str) -> None:
    """`src/crm_notes_migration/{transform,contract.py,config.py}` of `rev` as package `name`."""
    target = root / name
    target.mkdir()
    (target / "__init__.py").write_text("")
    repo = Path(__file__).resolve().parent.parent
    source = repo / "src" / "crm_notes_migration"
    if rev == ".":
        for entry in PACKAGE_FILES:
            path = source / entry
            if path.is_dir():
                shutil.copytree(path, target / entry, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                shutil.copy(path, target / entry)
        return
    archive = subprocess.run(
        ["git", "archive", rev, *(f"src/crm_notes_migration/{entry}" for entry in PACKAGE_FILES)],
        cwd=repo,
        check=True,
        capture_output=True,
    ).stdout
    subprocess.run(["tar", "-x", "--strip-components=2", "-C", str(target)], input=archive, check=True)


def rates(modules: list[ModuleType], cases: list[Case]) -> list[float]:
    """One round: notes/s per core of each module over all cases, chunks in rotating order."""
    totals = [0] * len(modules)
    options = [module.TransformOptions() for module in modules]
    for n, start in enumerate(range(0, len(cases), CHUNK)):
        part = cases[start : start + CHUNK]
        order = [(n + k) % len(modules) for k in range(len(modules))]
        for i in order:
            begin = time.thread_time_ns()
            for cid, note, resolution in part:
                modules[i].transform_note(cid, note, resolution, options[i])
            totals[i] += time.thread_time_ns() - begin
    return [len(cases) / (total / 1e9) for total in totals]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("revs", nargs="+", help="git revisions; '.' is the working tree")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--notes", type=int, default=4000)
    parser.add_argument("--cids", type=int, default=12)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="transform-compare-") as scratch:
        names = [f"rev{i}" for i in range(len(args.revs))]
        for rev, name in zip(args.revs, names, strict=True):
            export(rev, Path(scratch), name)
        sys.path.insert(0, scratch)
        modules = [importlib.import_module(f"{name}.transform") for name in names]
        cases = seed_mix(args.notes, args.cids, args.seed)
        print(f"cpu_count={os.cpu_count()} (one process, one thread: figures are per core); {len(cases)} notes")
        for module in modules:  # warm-up
            options = module.TransformOptions()
            for cid, note, resolution in cases[:200]:
                module.transform_note(cid, note, resolution, options)
        gc.collect()
        gc.freeze()
        ratios: list[list[float]] = [[] for _ in modules]
        for round_no in range(1, args.rounds + 1):
            found = rates(modules, cases)
            for i, rate in enumerate(found):
                ratios[i].append(rate / found[0])
            figures = "  ".join(f"{rev} {rate:,.0f}/s" for rev, rate in zip(args.revs, found, strict=True))
            print(f"round {round_no}: {figures}")
        for rev, rev_ratios in zip(args.revs, ratios, strict=True):
            low, high = min(rev_ratios), max(rev_ratios)
            print(f"transform_compare rev={rev} speed_vs_{args.revs[0]}={low:.2f}-{high:.2f}")


if __name__ == "__main__":
    main()
