import pytest
from pydantic import ValidationError

from crm_notes_migration.config import Settings


def test_defaults_point_at_the_local_services_of_spec_section_8(monkeypatch):
    for name in (
        "CRM_DATABASE_URL",
        "CDP_MONGODB_URI",
        "CDP_MONGODB_DB",
        "REDIS_URL",
        "MIGRATION_API_URL",
        "MIGRATION_API_TOKEN",
        "CRM_TIMEZONE",
    ):
        monkeypatch.delenv(name, raising=False)
    s = Settings(_env_file=None)
    assert s.crm_database_url == "postgresql://postgres:postgres@127.0.0.1:5432/crm"
    assert s.cdp_mongodb_uri == "mongodb://127.0.0.1:27017/"
    assert s.cdp_mongodb_db == "cdp"
    assert s.redis_url == "redis://127.0.0.1:6379/0"
    assert s.migration_api_url == "http://127.0.0.1:8080"
    assert s.migration_api_token is None
    assert s.crm_timezone == "UTC"
    assert s.max_batch_notes == 1000
    assert s.max_note_html_bytes == 1024 * 1024
    assert s.url_rewrite is None


def test_environment_and_dotenv_override(monkeypatch, tmp_path):
    monkeypatch.setenv("CRM_TIMEZONE", "Asia/Jakarta")
    monkeypatch.setenv("MAX_BATCH_NOTES", "250")
    env = tmp_path / ".env"
    env.write_text("ATTACHMENT_URL_REWRITE=https://old.example/=>https://files.example/\n")
    s = Settings(_env_file=env)
    assert s.crm_timezone == "Asia/Jakarta"
    assert s.max_batch_notes == 250
    assert s.url_rewrite == ("https://old.example/", "https://files.example/")


@pytest.mark.parametrize(
    "name,value",
    [
        ("CRM_TIMEZONE", "Mars/Olympus"),
        ("ATTACHMENT_URL_REWRITE", "no-arrow-here"),
        ("MAX_BATCH_NOTES", "0"),
    ],
)
def test_bad_values_are_refused_with_a_clear_error(monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError):
        Settings(_env_file=None)
