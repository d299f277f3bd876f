"""MigrationApiClient against a tiny local HTTP server that scripts its answers."""

from __future__ import annotations

import gc
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import crm_notes_migration.client as client_module
from crm_notes_migration.client import ApiUnreachable, MigrationApiClient, MigrationApiError, QueueStuck


class ScriptedServer:
    """Answers each request with the next scripted (status, headers, body); records requests."""

    def __init__(self, script):
        self.script = list(script)
        self.requests: list[tuple[str, str, dict, bytes]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                outer.requests.append((self.command, self.path, dict(self.headers), body))
                status, headers, payload = outer.script.pop(0) if outer.script else (500, {}, {"detail": "empty"})
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _answer

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def sleeps():
    return []


def make_client(url, sleeps, **kw):
    return MigrationApiClient(url, "tok", sleep=sleeps.append, **kw)


BATCH = {"contract_version": 1, "cid": 1, "batch_id": "b1", "notes": []}
OK = (202, {}, {"batch_id": "b1", "accepted": 0, "rejected": []})


def test_post_batch_retries_5xx_then_succeeds_with_bearer_token(sleeps):
    server = ScriptedServer([(503, {}, {"detail": "down"}), (500, {}, {}), OK])
    try:
        answer = make_client(server.url, sleeps).post_batch(BATCH)
    finally:
        server.close()
    assert answer["batch_id"] == "b1"
    assert len(server.requests) == 3
    assert all(r[2]["Authorization"] == "Bearer tok" for r in server.requests)
    assert [json.loads(r[3]) for r in server.requests] == [BATCH] * 3  # every attempt sends the whole body
    assert len(sleeps) == 2 and all(0 <= s <= 1.0 for s in sleeps)


def test_a_sent_batch_body_is_not_kept_alive_by_the_http_clients_reference_cycles(sleeps):
    # httpx's request/response objects form reference cycles that only the collector
    # frees; a batch body they reach stays in memory (and in older generations) with them
    server = ScriptedServer([OK])
    batch = {**BATCH, "notes": [{"content_html": "x" * 1_000_000}]}
    gc.collect()
    gc.disable()
    try:
        client = make_client(server.url, sleeps)
        client.post_batch(batch)
        gc.set_debug(gc.DEBUG_SAVEALL)  # keep what the collector finds unreachable, to look at
        gc.collect()
        cycles_found = len(gc.garbage)
        bodies = [
            r
            for o in gc.garbage
            for r in gc.get_referents(o)
            if isinstance(r, (bytes, bytearray)) and len(r) >= 1_000_000
        ]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
        client.close()
        server.close()
    assert cycles_found > 0  # the cycles are there (else this test would show nothing)
    assert bodies == []
    assert json.loads(server.requests[0][3]) == batch


def test_429_waits_for_retry_after(sleeps):
    server = ScriptedServer([(429, {"Retry-After": "7"}, {"detail": "busy"}), OK])
    try:
        make_client(server.url, sleeps).post_batch(BATCH)
    finally:
        server.close()
    assert sleeps == [7.0]
    assert len(server.requests) == 2


def test_429_gives_up_after_bound(sleeps):
    server = ScriptedServer([(429, {"Retry-After": "5"}, {})] * 5)
    try:
        with pytest.raises(MigrationApiError, match="429") as info:
            make_client(server.url, sleeps, max_throttle_wait_s=12).post_batch(BATCH)
    finally:
        server.close()
    assert info.value.status == 429
    assert sleeps == [5.0, 5.0]


def test_4xx_is_final_with_detail(sleeps):
    server = ScriptedServer([(409, {}, {"detail": "batch_id reused with another body"})])
    try:
        with pytest.raises(MigrationApiError, match="reused with another body") as info:
            make_client(server.url, sleeps).post_batch(BATCH)
    finally:
        server.close()
    assert info.value.status == 409
    assert len(server.requests) == 1 and sleeps == []


def test_5xx_gives_up_after_max_attempts(sleeps):
    server = ScriptedServer([(502, {}, {"detail": "bad gateway"})] * 10)
    try:
        with pytest.raises(MigrationApiError, match="HTTP 502 \\(3 attempts") as info:
            make_client(server.url, sleeps, max_attempts=3).post_batch(BATCH)
    finally:
        server.close()
    assert len(server.requests) == 3
    assert f"MIGRATION_API_URL={server.url}" in str(info.value) and info.value.status == 502
    # exponential: the cap of each jittered delay doubles
    assert sleeps[0] <= 0.5 and sleeps[1] <= 1.0


def test_an_api_answering_5xx_for_longer_than_eight_attempts_is_still_waited_for(sleeps):
    server = ScriptedServer([(503, {}, {"detail": "restarting"})] * 12 + [OK])
    try:
        assert make_client(server.url, sleeps, wait_s=600).post_batch(BATCH)["batch_id"] == "b1"
    finally:
        server.close()
    assert len(server.requests) == 13


def test_5xx_gives_up_once_its_wait_budget_is_spent(sleeps):
    server = ScriptedServer([(503, {}, {"detail": "restarting"})] * 200)
    try:
        with pytest.raises(MigrationApiError, match="MIGRATION_API_WAIT_S=20 "):
            make_client(server.url, sleeps, wait_s=20).post_batch(BATCH)
    finally:
        server.close()
    assert sum(sleeps) == pytest.approx(20)  # the last wait is cut to what is left


def test_unreachable_api_waits_its_budget_then_names_the_url(sleeps):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    with pytest.raises(ApiUnreachable) as info:
        make_client(url, sleeps, wait_s=200).post_batch(BATCH)
    message = str(info.value)
    assert f"the API is unreachable at MIGRATION_API_URL={url} " in message and "\n" not in message
    assert "MIGRATION_API_WAIT_S=200" in message and "ConnectError" in message
    assert sum(sleeps) == pytest.approx(200)  # far more than 8 attempts could wait (61.5 s at most)


def test_wait_drained_polls_the_first_pending_cid_until_drained_then_the_next(sleeps):
    server = ScriptedServer(
        [
            (200, {}, {"cid": 1, "migrated": 1, "parked": {}, "pending": 2}),
            (200, {}, {"cid": 1, "migrated": 3, "parked": {"contact_not_found": 0}, "pending": 0}),
            (200, {}, {"cid": 2, "migrated": 3, "parked": {}, "pending": 0}),
        ]
    )
    try:
        final = make_client(server.url, sleeps).wait_drained([1, 2], timeout_s=30, poll_interval_s=0.25)
    finally:
        server.close()
    assert final[1]["migrated"] == 3 and final[2]["migrated"] == 3
    paths = [r[1] for r in server.requests]
    assert paths == [
        "/v1/migrations/crm-notes/counts?cid=1",
        "/v1/migrations/crm-notes/counts?cid=1",
        "/v1/migrations/crm-notes/counts?cid=2",
    ]
    assert sleeps == [0.25]


def test_wait_drained_times_out(sleeps):
    server = ScriptedServer([(200, {}, {"cid": 1, "migrated": 0, "parked": {}, "pending": 1})] * 3)
    try:
        with pytest.raises(TimeoutError):
            make_client(server.url, sleeps).wait_drained([1], timeout_s=0)
    finally:
        server.close()


def _row(cid, pending, migrated=5):
    return {"cid": cid, "migrated": migrated, "parked": {}, "pending": pending}


def test_wait_drained_many_cids_waits_on_the_last_then_reads_every_cid_at_once(sleeps):
    cids = list(range(1, 11))
    server = ScriptedServer(
        [
            (404, {}, {"detail": "no metrics here"}),  # an API without the queued-notes gauge
            (200, {}, _row(10, 4)),
            (200, {}, _row(10, 0)),
            (200, {}, {"cids": [_row(c, 2 if c == 3 else 0) for c in cids] + [_row(99, 7)]}),
            (200, {}, _row(3, 0)),
            (200, {}, {"cids": [_row(c, 0, migrated=c) for c in cids if c != 7]}),
            (200, {}, _row(7, 0, migrated=0)),
        ]
    )
    try:
        final = make_client(server.url, sleeps).wait_drained(cids, timeout_s=30, poll_interval_s=0.5)
    finally:
        server.close()
    base = "/v1/migrations/crm-notes/counts"
    every = f"{base}?" + "&".join(f"cid={c}" for c in cids)  # the run's cids, named
    assert [r[1] for r in server.requests] == [
        "/metrics",
        f"{base}?cid=10",
        f"{base}?cid=10",
        every,
        f"{base}?cid=3",
        every,
        f"{base}?cid=7",
    ]
    assert sorted(final) == cids  # only the run's cids, not 99
    assert final[4]["migrated"] == 4 and final[7]["migrated"] == 0
    assert all(row["pending"] == 0 for row in final.values())
    assert len(sleeps) == 2 and min(sleeps) >= 0.5  # longer only if a count answered slowly


def test_wait_drained_many_cids_times_out_with_counts_so_far(sleeps):
    cids = list(range(1, 11))
    server = ScriptedServer([(404, {}, {})] + [(200, {}, _row(10, 1))] * 3)
    try:
        with pytest.raises(TimeoutError) as info:
            make_client(server.url, sleeps).wait_drained(cids, timeout_s=0)
    finally:
        server.close()
    assert info.value.args[1][10]["pending"] == 1


def _metrics(queued: str) -> bytes:
    return (
        f'# TYPE migration_notes_total counter\nmigration_notes_total{{outcome="accepted"}} 9.0\n'
        f"# TYPE migration_queued_notes gauge\nmigration_queued_notes {queued}\n"
    ).encode()


def test_wait_drained_many_cids_waits_on_the_queued_gauge_then_reads_every_cid_once(sleeps):
    cids = list(range(1, 11))
    server = ScriptedServer(
        [
            (200, {}, _metrics("500.0")),
            (200, {}, _metrics("0.0")),
            (200, {}, {"cids": [_row(c, 0, migrated=c) for c in cids]}),
        ]
    )
    heard: list[int] = []
    try:
        final = make_client(server.url, sleeps).wait_drained(
            cids, timeout_s=30, poll_interval_s=0.5, on_queued=heard.append
        )
    finally:
        server.close()
    assert heard == [500]  # the terminal hears how much is still queued while it waits
    every = "/v1/migrations/crm-notes/counts?" + "&".join(f"cid={c}" for c in cids)
    assert [r[1] for r in server.requests] == ["/metrics", "/metrics", every]
    assert {c: final[c]["migrated"] for c in cids} == {c: c for c in cids}
    assert sleeps == [0.5]


def test_wait_drained_gauge_empty_but_counts_still_pending_falls_back_to_polling_the_cid(sleeps):
    cids = list(range(1, 11))
    server = ScriptedServer(
        [
            (200, {}, _metrics("NaN")),  # Redis unavailable to the API: no hint
            (200, {}, _row(10, 0)),
            (200, {}, {"cids": [_row(c, 3 if c == 5 else 0) for c in cids]}),
            (200, {}, _row(5, 0)),
            (200, {}, {"cids": [_row(c, 0) for c in cids]}),
        ]
    )
    try:
        final = make_client(server.url, sleeps).wait_drained(cids, timeout_s=30, poll_interval_s=0.5)
    finally:
        server.close()
    base = "/v1/migrations/crm-notes/counts"
    every = f"{base}?" + "&".join(f"cid={c}" for c in cids)
    assert [r[1] for r in server.requests] == ["/metrics", f"{base}?cid=10", every, f"{base}?cid=5", every]
    assert final[5]["pending"] == 0 and len(sleeps) == 1


def _job_metrics(queued: str, live: str, failed: str) -> bytes:
    return (
        _metrics(queued)
        + (
            f"# TYPE migration_live_jobs gauge\nmigration_live_jobs {live}\n"
            f"# TYPE migration_failed_jobs gauge\nmigration_failed_jobs {failed}\n"
        ).encode()
    )


def test_waiting_on_the_gauge_stops_when_only_failed_jobs_are_left(sleeps):
    cids = list(range(1, 11))
    server = ScriptedServer(
        [
            (200, {}, _job_metrics("700.0", "1.0", "2.0")),  # a job still runs: it may land the rest
            (200, {}, _job_metrics("500.0", "0.0", "2.0")),  # nothing left that could
        ]
    )
    try:
        with pytest.raises(
            QueueStuck, match=r"500 notes still queued: .* 2 that failed for good.*failed-jobs --requeue"
        ):
            make_client(server.url, sleeps).wait_drained(cids, timeout_s=3600, poll_interval_s=0.5)
    finally:
        server.close()
    assert [r[1] for r in server.requests] == ["/metrics", "/metrics"]
    assert sleeps == [0.5]


def test_waiting_per_cid_checks_the_job_gauges_and_stops(sleeps, monkeypatch):
    monkeypatch.setattr(client_module, "STUCK_CHECK_EVERY_S", 0.0)
    server = ScriptedServer(
        [
            (200, {}, _row(1, 3)),
            (200, {}, _job_metrics("3.0", "1.0", "1.0")),  # live: wait on
            (200, {}, _row(1, 3)),
            (200, {}, _job_metrics("3.0", "0.0", "1.0")),  # only the failed job is left
        ]
    )
    try:
        with pytest.raises(QueueStuck) as stuck:
            make_client(server.url, sleeps).wait_drained([1], timeout_s=3600, poll_interval_s=0.5)
    finally:
        server.close()
    assert stuck.value.args[1][1]["pending"] == 3  # the counts so far, as a timeout gives them
    assert [r[1] for r in server.requests] == ["/v1/migrations/crm-notes/counts?cid=1", "/metrics"] * 2


def test_an_api_without_job_gauges_is_waited_on_as_before(sleeps, monkeypatch):
    monkeypatch.setattr(client_module, "STUCK_CHECK_EVERY_S", 0.0)
    server = ScriptedServer(
        [
            (200, {}, _row(1, 3)),
            (404, {}, {}),
            (200, {}, _row(1, 0)),
        ]
    )
    try:
        final = make_client(server.url, sleeps).wait_drained([1], timeout_s=3600, poll_interval_s=0.5)
    finally:
        server.close()
    assert final[1]["pending"] == 0


def test_waiting_per_cid_stops_when_the_queue_holds_no_job_at_two_checks_in_a_row(sleeps, monkeypatch):
    monkeypatch.setattr(client_module, "STUCK_CHECK_EVERY_S", 0.0)
    empty, busy = _job_metrics("0.0", "0.0", "0.0"), _job_metrics("3.0", "1.0", "0.0")
    server = ScriptedServer(
        [
            (200, {}, _row(1, 3)),
            (200, {}, empty),  # once: a batch may be between ledger and queue
            (200, {}, _row(1, 3)),
            (200, {}, busy),  # a job again: the count starts over
            (200, {}, _row(1, 3)),
            (200, {}, empty),
            (200, {}, _row(1, 3)),
            (200, {}, empty),  # twice in a row: nothing can land these
        ]
    )
    try:
        with pytest.raises(QueueStuck, match="3 notes are pending but the queue holds no job") as stuck:
            make_client(server.url, sleeps).wait_drained([1], timeout_s=3600, poll_interval_s=0.5)
    finally:
        server.close()
    assert stuck.value.args[1][1]["pending"] == 3
    assert len(server.requests) == 8 and sleeps == [0.5, 0.5, 0.5]
