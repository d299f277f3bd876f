"""Benchmark of the transform core on the seed's note mix, side by side with bleach + BeautifulSoup.

    python -m bench.transform [--notes N] [--cids C] [--seed S] [--profile]

Single process, single thread: the figures are per core. Inputs (contract notes and their
resolutions) are built before timing and frozen out of the garbage collector's view (a
worker holds one batch, not the whole mix); each note's `transform_note` call is timed
alone. The comparison does the same job with bleach (+ BeautifulSoup for mentions and for
removing code elements with their content); everything else of `transform_note` is shared.
Both run in turn over chunks of notes, in alternating order, so that the shared machine's
changes of speed fall on both alike and the ratio is measured side by side.
Last line: `transform notes_per_s_core=<n> p99_us=<n> vs_bleach=<ratio>`.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import time
from collections.abc import Callable
from contextlib import contextmanager
from zoneinfo import ZoneInfo

from crm_notes_migration.contract import NoteV1
from crm_notes_migration.transform import (
    CdpUser,
    LegacyAttachment,
    LegacyNote,
    LegacyUser,
    Resolution,
    TransformOptions,
    legacy_note_to_contract,
    normalise_email,
    transform_note,
)
from crm_notes_migration.transform import note as note_module

from .bleach_baseline import bleach_transform_content

Case = tuple[int, NoteV1, Resolution]


def seed_mix(notes: int, cids: int, seed: int) -> list[Case]:
    """Contract notes of the seed (in scope only) with their resolutions, as the worker gets them."""
    from crm_notes_devtools.seed.generator import generate

    cases: list[Case] = []
    crm_users: dict[int, LegacyUser] = {}
    contacts: dict[int, dict[str, list]] = {}
    cdp: dict[int, list[CdpUser]] = {}
    tz = ZoneInfo("Asia/Jakarta")
    for chunk in generate(notes, cids, seed):
        for row in chunk.crm_users:
            crm_users[row[0]] = LegacyUser(*row)
        for contact in chunk.contacts:
            if contact.get("source_id"):
                contacts.setdefault(chunk.cid, {}).setdefault(contact["source_id"], []).append(contact["_id"])
        for user in chunk.users:
            cdp.setdefault(int(user["cid"]), []).append(CdpUser(user["_id"], user["name"], user["email"]))
        attachments: dict[int, list[LegacyAttachment]] = {}
        for att in chunk.attachments:
            attachments.setdefault(att[1], []).append(LegacyAttachment(*att))
        by_email = {normalise_email(u.email): u for u in cdp.get(chunk.cid, [])}
        by_id = {str(u.id): u for u in cdp.get(chunk.cid, [])}
        for row in chunk.notes:
            legacy = LegacyNote(*row, attachments=tuple(attachments.get(row[0], ())))
            if not legacy.in_scope:
                continue
            contract, _ = legacy_note_to_contract(legacy, crm_users, tz)
            note = NoteV1.model_validate(contract)
            found = tuple(contacts.get(chunk.cid, {}).get(str(note.crm_person_id), ()))
            cases.append((chunk.cid, note, Resolution(found, by_email, by_id)))
    return cases


@contextmanager
def content_step(replacement: Callable | None):
    """Swap the content step of `transform_note` (for the bleach baseline only):
    `replacement` has `transform_content`'s contract."""
    original = note_module.transform_content
    if replacement is not None:
        note_module.transform_content = replacement
    try:
        yield
    finally:
        note_module.transform_content = original


def run(cases: list[Case], options: TransformOptions, clock: Callable[[], int] = time.thread_time_ns) -> list[float]:
    """Per-note time in microseconds: CPU time of this thread by default, so that other
    processes on a shared machine do not count; `time.perf_counter_ns` for wall time."""
    times = []
    for cid, note, resolution in cases:
        start = clock()
        transform_note(cid, note, resolution, options)
        times.append((clock() - start) / 1000)
    return times


def run_side_by_side(
    cases: list[Case], options: TransformOptions, baseline: Callable, chunk: int = 50
) -> tuple[list[float], list[float]]:
    """Per-note times (µs) of the core and of `baseline` as the content step, over chunks
    of `chunk` notes done by both in turn (the one first on even chunks, the other on odd
    ones): side by side in time, each with its own caches warm within a chunk."""
    core: list[float] = []
    other: list[float] = []
    for n, start in enumerate(range(0, len(cases), chunk)):
        part = cases[start : start + chunk]
        for use_baseline in (n % 2 == 1, n % 2 == 0):
            with content_step(baseline if use_baseline else None):
                (other if use_baseline else core).extend(run(part, options))
    return core, other


def summary(name: str, times: list[float]) -> tuple[float, float, float]:
    ordered = sorted(times)
    p50 = statistics.median(ordered)
    p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
    rate = len(times) / (sum(times) / 1e6)
    print(f"{name:<28} p50={p50:9.1f} us  p99={p99:10.1f} us  max={ordered[-1]:11.1f} us  notes/s/core={rate:9.0f}")
    return p50, p99, rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notes", type=int, default=4000)
    parser.add_argument("--cids", type=int, default=12)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--profile", action="store_true", help="cProfile the core's pass")
    args = parser.parse_args()

    cases = seed_mix(args.notes, args.cids, args.seed)
    sizes = sorted(len((n.content_html or "").encode()) for _, n, _ in cases)
    print(f"cpu_count={os.cpu_count()} (one process, one thread: figures are per core)")
    print(
        f"mix: seed generator, {len(cases)} in-scope notes of {args.notes} (cids={args.cids}, "
        f"seed={args.seed}); content bytes p50={sizes[len(sizes) // 2]} p90={sizes[int(0.9 * len(sizes))]} "
        f"p99={sizes[int(0.99 * len(sizes))]} max={sizes[-1]}; "
        f"with mentions={sum('mention' in (n.content_html or '') for _, n, _ in cases)}"
    )
    options = TransformOptions()
    run_side_by_side(cases[:200], options, bleach_transform_content)  # warm-up
    gc.collect()
    gc.freeze()
    if args.profile:
        import cProfile
        import pstats

        cProfile.runctx("run(cases, options)", globals(), {"cases": cases, "options": options}, "/tmp/transform.prof")
        pstats.Stats("/tmp/transform.prof").sort_stats("cumulative").print_stats(18)
    wall_start = time.perf_counter()
    core, baseline = run_side_by_side(cases, options, bleach_transform_content)
    wall = time.perf_counter() - wall_start
    print(f"(per-note figures are thread CPU time; both passes took {wall:.2f} s wall clock)")
    _, p99, rate = summary("transform (nh3 + selectolax)", core)
    _, _, bleach_rate = summary("bleach + BeautifulSoup", baseline)
    small = [i for i, (_, n, _) in enumerate(cases) if len((n.content_html or "").encode()) <= 65536]
    summary("  core, notes <= 64 KiB", [core[i] for i in small])
    summary("  bleach, notes <= 64 KiB", [baseline[i] for i in small])
    print(f"transform notes_per_s_core={rate:.0f} p99_us={p99:.0f} vs_bleach={rate / bleach_rate:.1f}")


if __name__ == "__main__":
    main()
