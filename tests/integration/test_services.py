"""scripts/services.sh: idempotent, and every service answers where SPEC §9 says."""

import subprocess

import psycopg
import pymongo
import redis

from tests.conftest import ROOT


def test_up_twice_starts_nothing_the_second_time(services):
    second = subprocess.run([str(ROOT / "scripts" / "services.sh"), "up"], capture_output=True, text=True, check=True)
    assert "starting" not in second.stderr
    status = subprocess.run([str(ROOT / "scripts" / "services.sh"), "status"], capture_output=True, text=True)
    assert status.returncode == 0, status.stdout
    assert status.stdout.count(": up") == 3


def test_services_answer_at_the_spec_addresses(services):
    with psycopg.connect("postgresql://postgres:postgres@127.0.0.1:5432/crm") as conn:
        assert conn.execute("select 1").fetchone() == (1,)
    assert redis.Redis(host="127.0.0.1", port=6379).ping()
    client = pymongo.MongoClient("mongodb://127.0.0.1:27017/", serverSelectionTimeoutMS=3000)
    assert client.admin.command("ping")["ok"] == 1.0
