"""Configuration: a wrong value stops start-up with one clear line naming the variable."""

from __future__ import annotations

import subprocess
import sys

import pytest

from bot.config import OFFICIAL_BOT_API, SettingsError, load_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    for var in ("TELEGRAM_BOT_TOKEN", "TELEGRAM_API_BASE", "DATABASE_URL", "WEBHOOK_URL",
                "ADMIN_TELEGRAM_IDS", "DEFAULT_LOCALE", "TIMEZONE", "WEBHOOK_SECRET",
                "WEBHOOK_LISTEN"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)


def test_defaults_need_nothing() -> None:
    s = load_settings()
    assert s.token is None
    assert s.telegram_api_base == OFFICIAL_BOT_API
    assert s.database_url.startswith("sqlite+aiosqlite:///./data/")
    assert s.timezone == "America/Santiago" and s.default_locale == "es"
    assert s.admin_telegram_ids == []


def test_environment_and_dotenv_are_read(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    (tmp_path / ".env").write_text("TELEGRAM_BOT_TOKEN=123456:ABCDEFGH\nDEFAULT_LOCALE=en\n")
    monkeypatch.setenv("ADMIN_TELEGRAM_IDS", "11, 22;33")
    monkeypatch.setenv("DATABASE_URL", "postgresql://postgres@127.0.0.1/test")
    s = load_settings()
    assert s.token == "123456:ABCDEFGH" and s.default_locale == "en"
    assert s.admin_telegram_ids == [11, 22, 33]
    assert s.database_url == "postgresql+asyncpg://postgres@127.0.0.1/test"
    assert "ABCDEFGH" not in repr(s)  # the token is a secret


@pytest.mark.parametrize(
    ("var", "value"),
    [
        ("TIMEZONE", "Mars/Olympus"),
        ("DEFAULT_LOCALE", "fr"),
        ("TELEGRAM_BOT_TOKEN", "not-a-token"),
        ("TELEGRAM_API_BASE", "api.telegram.org"),
        ("DATABASE_URL", "mysql://root@localhost/x"),
        ("WEBHOOK_URL", "http://insecure.example"),
        ("ADMIN_TELEGRAM_IDS", "ana,beto"),
        ("WEBHOOK_SECRET", "corto"),
        ("WEBHOOK_LISTEN", "8080"),
    ],
)
def test_a_wrong_value_names_the_variable(monkeypatch: pytest.MonkeyPatch, var: str,
                                          value: str) -> None:
    monkeypatch.setenv(var, value)
    with pytest.raises(SettingsError) as err:
        load_settings()
    lines = str(err.value).splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"Configuration error: {var}: expected")


def test_the_command_stops_with_one_line_and_a_nonzero_code(tmp_path) -> None:
    env = {"PATH": "/usr/bin:/bin", "TIMEZONE": "Nowhere/Land", "HOME": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-m", "bot", "status"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        "Configuration error: TIMEZONE: expected an IANA time zone, like America/Santiago")


@pytest.mark.parametrize("secret", [None, "", "s3cret", "espacios no valen aqui 1234"])
def test_a_webhook_needs_a_secret(monkeypatch: pytest.MonkeyPatch, secret: str | None) -> None:
    """Without one, whoever reaches the port could post updates in anyone's name."""
    monkeypatch.setenv("WEBHOOK_URL", "https://convoca.example.org")
    if secret is not None:
        monkeypatch.setenv("WEBHOOK_SECRET", secret)
    with pytest.raises(SettingsError) as err:
        load_settings()
    [line] = str(err.value).splitlines()
    assert line.startswith("Configuration error: WEBHOOK_SECRET: expected a secret of 16 to 256")
    monkeypatch.setenv("WEBHOOK_SECRET", "Zq3_-" * 5)
    s = load_settings()
    assert s.webhook_secret is not None and "Zq3_" not in repr(s)


def test_the_webhook_listens_on_this_machine_only_by_default() -> None:
    assert load_settings().webhook_listen == "127.0.0.1:8080"


def test_convoca_run_with_a_webhook_and_no_secret_does_not_start(tmp_path) -> None:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "LANG": "C.UTF-8",
           "TELEGRAM_BOT_TOKEN": "123456:ABCDEFGH", "TELEGRAM_API_BASE": "http://127.0.0.1:9",
           "WEBHOOK_URL": "https://convoca.example.org",
           "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'c.sqlite3'}"}
    proc = subprocess.run([sys.executable, "-m", "bot", "run"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith(
        "Configuration error: WEBHOOK_SECRET: expected a secret of 16 to 256")
    assert len(proc.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "c.sqlite3").exists()  # it stopped before anything
