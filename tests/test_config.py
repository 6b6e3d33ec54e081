"""Configuration: a wrong value stops start-up with one clear line naming the variable."""

from __future__ import annotations

import subprocess
import sys

import pytest

from bot.config import OFFICIAL_BOT_API, OFFICIAL_GRAPH_API, SettingsError, load_settings

WHATSAPP = ("WHATSAPP_ACCESS_TOKEN", "WHATSAPP_PHONE_NUMBER_ID", "WHATSAPP_BUSINESS_ACCOUNT_ID",
            "WHATSAPP_APP_SECRET", "WHATSAPP_VERIFY_TOKEN", "WHATSAPP_API_BASE",
            "WHATSAPP_MESSAGES_PER_SECOND")
# What Meta's dashboard gives (made up here): a token, the ids, the app's secret; the verify
# token is the operator's own.
TOKEN = "EAAGm0PX4ZCpsBAFAKEFAKEFAKE"
APP_SECRET = "0123456789abcdef0123456789abcdef"
VERIFY = "Vt_" * 6


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    for var in ("TELEGRAM_BOT_TOKEN", "TELEGRAM_API_BASE", "DATABASE_URL", "WEBHOOK_URL",
                "ADMIN_TELEGRAM_IDS", "DEFAULT_LOCALE", "TIMEZONE", "WEBHOOK_SECRET",
                "WEBHOOK_LISTEN", "HTTP_LISTEN", "PUBLIC_URL", *WHATSAPP):
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
        ("HTTP_LISTEN", "localhost"),
        ("PUBLIC_URL", "http://convoca.example.org"),
        ("WHATSAPP_ACCESS_TOKEN", "Bearer EAAG"),
        ("WHATSAPP_BUSINESS_ACCOUNT_ID", "mi-cuenta"),
        ("WHATSAPP_API_BASE", "graph.facebook.com"),
        ("WHATSAPP_MESSAGES_PER_SECOND", "0"),
        ("WHATSAPP_MESSAGES_PER_SECOND", "1001"),
        ("WHATSAPP_MESSAGES_PER_SECOND", "rápido"),
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


def test_the_server_listens_on_this_machine_only_by_default() -> None:
    assert load_settings().http_listen == "127.0.0.1:8080"


def test_webhook_listen_is_still_read_and_http_listen_wins(monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    monkeypatch.setenv("WEBHOOK_LISTEN", "10.0.0.5:8081")
    assert load_settings().http_listen == "10.0.0.5:8081"
    monkeypatch.setenv("HTTP_LISTEN", "127.0.0.1:9000")
    assert load_settings().http_listen == "127.0.0.1:9000"
    assert load_settings(http_listen="0.0.0.0:80").http_listen == "0.0.0.0:80"


def test_a_wrong_old_name_is_named_as_set(monkeypatch: pytest.MonkeyPatch) -> None:
    """Whoever still sets WEBHOOK_LISTEN reads that name in the error, not one they never set."""
    monkeypatch.setenv("WEBHOOK_LISTEN", "8080")
    with pytest.raises(SettingsError) as err:
        load_settings()
    assert str(err.value) == (
        "Configuration error: WEBHOOK_LISTEN: expected host:port, like 127.0.0.1:8080")


def test_whatsapp_is_off_by_default_and_its_base_is_meta() -> None:
    s = load_settings()
    assert not s.whatsapp_enabled
    assert s.whatsapp_api_base == OFFICIAL_GRAPH_API == "https://graph.facebook.com/v23.0"
    assert s.whatsapp_messages_per_second == 80
    assert s.public_url is None and s.telegram_webhook_url is None


def _whatsapp(monkeypatch: pytest.MonkeyPatch, **env: str) -> None:
    values = {"WHATSAPP_ACCESS_TOKEN": TOKEN, "WHATSAPP_PHONE_NUMBER_ID": "106540352242922",
              "WHATSAPP_BUSINESS_ACCOUNT_ID": "102290129340398", "WHATSAPP_APP_SECRET": APP_SECRET,
              "WHATSAPP_VERIFY_TOKEN": VERIFY, **env}
    for var, value in values.items():
        monkeypatch.setenv(var, value)


def test_whatsapp_is_on_with_its_token_and_phone_number_id(monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    _whatsapp(monkeypatch, WHATSAPP_API_BASE="http://127.0.0.1:8999/v23.0/",
              WHATSAPP_MESSAGES_PER_SECOND="250", PUBLIC_URL="https://convoca.example.org/")
    s = load_settings()
    assert s.whatsapp_enabled
    assert s.whatsapp_phone_number_id == "106540352242922"
    assert s.whatsapp_business_account_id == "102290129340398"
    assert s.whatsapp_api_base == "http://127.0.0.1:8999/v23.0"  # a fake, in the tests
    assert s.whatsapp_messages_per_second == 250
    assert s.public_url == "https://convoca.example.org"
    assert s.whatsapp_access_token and s.whatsapp_access_token.get_secret_value() == TOKEN
    shown = repr(s) + str(s) + s.model_dump_json()
    for secret in (TOKEN, APP_SECRET, VERIFY):  # secrets are never printed
        assert secret not in shown


@pytest.mark.parametrize(("missing", "says"), [
    ("WHATSAPP_APP_SECRET", "expected the Meta app's secret"),
    ("WHATSAPP_VERIFY_TOKEN", "expected a token of 16 to 256 letters"),
    ("WHATSAPP_PHONE_NUMBER_ID", "expected the phone number's id, digits only"),
])
def test_the_whatsapp_token_needs_the_secret_the_verify_token_and_the_number(
        monkeypatch: pytest.MonkeyPatch, missing: str, says: str) -> None:
    """Without the app secret anyone could post events in anyone's name; without the verify
    token Meta cannot subscribe the webhook; without the number's id the token runs nothing."""
    _whatsapp(monkeypatch)
    monkeypatch.delenv(missing)
    with pytest.raises(SettingsError) as err:
        load_settings()
    [line] = str(err.value).splitlines()
    assert line.startswith(f"Configuration error: {missing}: {says}")
    assert "required with WHATSAPP_ACCESS_TOKEN" in line
    assert TOKEN not in str(err.value)


def test_several_wrong_whatsapp_values_are_one_line_each(monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    _whatsapp(monkeypatch, WHATSAPP_PHONE_NUMBER_ID="+56 9 8765 4321",
              WHATSAPP_APP_SECRET="corto", WHATSAPP_VERIFY_TOKEN="hola mundo")
    with pytest.raises(SettingsError) as err:
        load_settings()
    lines = str(err.value).splitlines()
    assert [line.split(":")[1].strip() for line in lines] == [
        "WHATSAPP_PHONE_NUMBER_ID", "WHATSAPP_APP_SECRET", "WHATSAPP_VERIFY_TOKEN"]
    assert "corto" not in str(err.value) and "hola mundo" not in str(err.value)


def test_without_the_whatsapp_token_its_other_values_are_optional(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WHATSAPP_PHONE_NUMBER_ID", "106540352242922")
    s = load_settings()
    assert not s.whatsapp_enabled and s.whatsapp_app_secret is None


def test_public_url_is_telegrams_webhook_unless_webhook_url_says_otherwise(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PUBLIC_URL", "https://convoca.example.org")
    assert load_settings().telegram_webhook_url == "https://convoca.example.org"
    # With a Telegram token, PUBLIC_URL makes Telegram post to it: the secret is needed.
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123456:ABCDEFGH")
    with pytest.raises(SettingsError) as err:
        load_settings()
    assert str(err.value).startswith("Configuration error: WEBHOOK_SECRET: expected a secret")
    monkeypatch.setenv("WEBHOOK_SECRET", "Zq3_-" * 5)
    monkeypatch.setenv("WEBHOOK_URL", "https://telegram.example.org")
    s = load_settings()
    assert s.telegram_webhook_url == "https://telegram.example.org"
    assert s.public_url == "https://convoca.example.org"


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
