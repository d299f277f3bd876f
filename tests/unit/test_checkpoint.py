"""The SQLite checkpoint: passes, contiguous prefix, resume, restart."""

from __future__ import annotations

from crm_notes_migration.source.checkpoint import Checkpoint


def test_new_pass_then_resume_then_new_pass_after_completion(tmp_path):
    path = tmp_path / "state.sqlite"
    cp = Checkpoint(path, "pg:crm")
    first = cp.open_pass(7, current_max_id=100)
    assert (first.pass_no, first.high_water, first.acked_upto, first.resumed) == (1, 100, 0, False)
    cp.record_ack(7, 1, "b-a", 1, 40, 40, 39, 1)
    cp.record_ack(7, 1, "b-c", 71, 100, 30, 30, 0)  # acknowledged past the prefix
    cp.advance(7, 1, 40)
    cp.close()

    cp = Checkpoint(path, "pg:crm")
    again = cp.open_pass(7, current_max_id=150)  # high-water stays the one of the open pass
    assert (again.pass_no, again.high_water, again.acked_upto, again.resumed) == (1, 100, 40, True)
    assert cp.acked_batch_ids(7, 1) == {"b-a", "b-c"}
    assert cp.accepted_total(7, 1) == (69, 1)
    cp.complete(7, 1)

    nxt = cp.open_pass(7, current_max_id=150)
    assert (nxt.pass_no, nxt.high_water, nxt.acked_upto, nxt.resumed) == (2, 150, 0, False)
    assert cp.acked_batch_ids(7, 2) == set()
    assert cp.accepted_total(7, 2) == (0, 0)


def test_advance_never_moves_back_and_sources_are_separate(tmp_path):
    cp = Checkpoint(tmp_path / "s.sqlite", "pg:a")
    other = Checkpoint(tmp_path / "s.sqlite", "pg:b")
    cp.open_pass(1, 50)
    other.open_pass(1, 999)
    cp.advance(1, 1, 30)
    cp.advance(1, 1, 20)
    assert cp.open_pass(1, 50).acked_upto == 30
    assert other.open_pass(1, 999).acked_upto == 0


def test_restart_forgets_everything_of_the_source(tmp_path):
    cp = Checkpoint(tmp_path / "s.sqlite", "pg:a")
    cp.open_pass(1, 50)
    cp.record_ack(1, 1, "x", 1, 50, 10, 10, 0)
    cp.advance(1, 1, 50)
    cp.restart()
    fresh = cp.open_pass(1, 60)
    assert (fresh.pass_no, fresh.acked_upto, fresh.high_water) == (1, 0, 60)
    assert cp.acked_batch_ids(1, 1) == set()
