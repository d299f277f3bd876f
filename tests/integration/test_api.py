"""The HTTP API's edges (SPEC §4): auth, limits, idempotency, throttling, health, errors."""

from __future__ import annotations

import subprocess
import sys

import httpx
import pytest

from crm_notes_migration.bootstrap import api_app as create_app

from .cdp_support import ROOT, ApiServer, batch, note, settings_env


@pytest.fixture
def api(isolated_settings):
    with ApiServer(isolated_settings.model_copy(update={"max_batch_notes": 5, "max_batch_body_bytes": 20_000})) as a:
        yield a


def _v1_routes(app):
    return [(m, r.path) for r in app.routes if r.path.startswith("/v1") for m in r.methods]


def test_every_v1_route_needs_the_token(api, isolated_settings):
    routes = _v1_routes(create_app(isolated_settings))
    assert {p for _, p in routes} == {
        "/v1/migrations/crm-notes/batches",
        "/v1/migrations/crm-notes/counts",
        "/v1/migrations/crm-notes/withdrawals",
        "/v1/migrations/crm-notes/legacy-ids",
    }
    body = batch(1, "auth", [note(1, 1)])
    for headers in (
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": "Basic " + "x" * 10},
        {"Authorization": f"Bearer {isolated_settings.migration_api_token}x"},
    ):
        for method, path in routes:
            r = httpx.request(method, api.url + path, headers=headers, json=body)
            assert r.status_code == 401, (method, path, headers)
            assert r.json()["error"] == "unauthorized"
    assert api.counts(1)["pending"] == 0  # nothing got in


def test_limits_and_not_a_batch(api):
    r = api.post_batch(batch(1, "big", [note(i, i) for i in range(1, 7)]))
    assert r.status_code == 413
    r = api.post_batch(batch(1, "huge", [note(1, 1, "<p>" + "y" * 30_000 + "</p>")]))
    assert r.status_code == 413 and r.json()["error"] == "payload_too_large"
    for bad in (b"not json", b"[]", b'{"contract_version": 2, "cid": 1, "batch_id": "x", "notes": []}', b'{"cid": 1}'):
        r = api.client.post(
            "/v1/migrations/crm-notes/batches", content=bad, headers={"content-type": "application/json"}
        )
        assert r.status_code == 422 and "error" in r.json(), bad


def test_idempotent_batch_ids_and_per_note_rejection(api):
    notes = [note(1, 1), note(2, 2, created_at="2021-01-01T00:00:00"), {"legacy_crm_note_id": "x"}, note(1, 1)]
    first = api.post_batch(batch(3, "idem", notes))
    assert first.status_code == 202
    body = first.json()
    assert body["accepted"] == 1
    assert [(x["legacy_crm_note_id"], x["reason"]) for x in body["rejected"]] == [
        (2, "invalid_note"),
        (None, "invalid_note"),
        (1, "invalid_note"),
    ]
    again = api.post_batch(batch(3, "idem", notes))
    assert again.status_code == 202 and again.json() == body
    assert api.post_batch(batch(3, "idem", notes[:1])).status_code == 409
    c = api.counts(3)
    assert c == {"cid": 3, "migrated": 0, "parked": {"invalid_note": 1}, "pending": 1}
    assert api.counts() == {"cids": [c]}


def test_counts_of_several_cids_and_a_cid_out_of_range(api):
    assert api.post_batch(batch(3, "three", [note(1, 1)])).status_code == 202
    path = "/v1/migrations/crm-notes/counts"
    several = api.client.get(path, params=[("cid", 3), ("cid", 4)])
    assert several.status_code == 200, several.text
    assert several.json() == {"cids": [api.counts(3), {"cid": 4, "migrated": 0, "parked": {}, "pending": 0}]}
    assert api.client.get(path, params=[("cid", 3), ("cid", 2**63)]).status_code == 422


def test_high_water_mark_answers_429(isolated_settings):
    with ApiServer(isolated_settings.model_copy(update={"queue_high_water_notes": 2})) as api:
        assert api.post_batch(batch(1, "a", [note(1, 1), note(2, 2)])).status_code == 202
        r = api.post_batch(batch(1, "b", [note(3, 3)]))
        assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0
        assert api.post_batch(batch(1, "a", [note(1, 1), note(2, 2)])).status_code == 202  # a replay is fine


def test_health_ready_metrics_openapi(api):
    assert httpx.get(api.url + "/healthz").json() == {"status": "ok"}
    ready = httpx.get(api.url + "/readyz")
    assert ready.status_code == 200 and ready.json() == {"mongodb": "ok", "redis": "ok"}
    api.post_batch(batch(1, "m", [note(1, 1)]))
    metrics = httpx.get(api.url + "/metrics").text
    assert 'migration_batches_total{outcome="accepted"} 1.0' in metrics
    spec = httpx.get(api.url + "/openapi.json").json()
    assert "/v1/migrations/crm-notes/batches" in spec["paths"]


def test_readyz_reports_a_dead_store(isolated_settings):
    from .cdp_support import free_port

    dead = isolated_settings.model_copy(
        update={"cdp_mongodb_uri": f"mongodb://127.0.0.1:{free_port()}/?serverSelectionTimeoutMS=300"}
    )
    with ApiServer(dead) as api:
        r = httpx.get(api.url + "/readyz")
        assert r.status_code == 503 and r.json()["mongodb"].startswith("unreachable: ")
        r = api.client.get("/v1/migrations/crm-notes/counts", params={"cid": 1})
        assert r.status_code == 503 and r.json()["error"] == "unavailable" and "Traceback" not in r.text


def test_serve_refuses_to_start_without_a_token(isolated_settings):
    env = settings_env(isolated_settings)
    env.pop("MIGRATION_API_TOKEN")
    proc = subprocess.run(
        [sys.executable, "-m", "crm_notes_migration.cli", "serve", "--port", "1"],
        env=env,
        cwd=ROOT / "tests",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode != 0 and "MIGRATION_API_TOKEN" in proc.stdout + proc.stderr
    with pytest.raises(RuntimeError):
        create_app(isolated_settings.model_copy(update={"migration_api_token": None}))


def test_metrics_give_the_queued_notes_that_the_client_waits_on(api):
    from crm_notes_migration.client import QUEUED_NOTES_METRIC, MigrationApiClient

    client = MigrationApiClient(api.url, "unused: /metrics needs no token")
    try:
        assert client.queue_gauges()[QUEUED_NOTES_METRIC] == 0.0
        api.post_batch(batch(1, "q1", [note(1, 1), note(2, 2), note(3, 3)]))
        api.post_batch(batch(2, "q2", [note(4, 4)]))
        api.post_batch(batch(2, "q2", [note(4, 4)]))  # a replay adds nothing
        assert client.queue_gauges()[QUEUED_NOTES_METRIC] == 4.0  # no worker runs: all still queued
    finally:
        client.close()
