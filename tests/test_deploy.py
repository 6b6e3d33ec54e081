"""The deployment files (Dockerfile, compose.yaml, deploy/Caddyfile, .env.example, the backup
scripts) checked for what a municipality's server depends on, and each compose service's
command run here as a plain process: this machine has no Docker daemon, so the image is not
built and compose does not run (docs/deploy.md says what was tried)."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from conftest import PG_ENV
from scratch_db import scratch_database
from sqlalchemy import select, text
from sqlalchemy.engine import make_url
from test_intake_process import command_update, post
from test_webhook import SECRET, free_port

from bot.cli import _parser
from bot.config import Settings, load_settings
from bot.http import HEALTH_PATH, HttpServer
from storage import db, programs
from storage.models import Base, ChannelAddress, Person

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "compose.yaml"
DOCKERFILE = ROOT / "Dockerfile"
CADDYFILE = ROOT / "deploy" / "Caddyfile"
ENV_EXAMPLE = ROOT / ".env.example"
BACKUP = ROOT / "scripts" / "backup.sh"
RESTORE = ROOT / "scripts" / "restore.sh"
SETTINGS = {name.upper() for name in Settings.model_fields}
# libpq's own variables (pg_dump, pg_isready, psql) and the postgres image's.
POSTGRES_VARIABLE = re.compile(r"(PG[A-Z]+|POSTGRES_[A-Z_]+)")
# The compose variables a deployment must set: ${NAME:?why}.
REQUIRED = re.compile(r"\$\{([A-Z_]+):\?")
INTERPOLATED = re.compile(r"\$\{([A-Z_]+)")
CHAT = 5151


def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


def services() -> dict[str, dict[str, Any]]:
    return compose()["services"]


def convoca_services() -> dict[str, dict[str, Any]]:
    """The services that run Convoca's image (the one this repository's Dockerfile builds)."""
    return {name: s for name, s in services().items() if s.get("build") == "."}


def app_services() -> dict[str, dict[str, Any]]:
    return {name: s for name, s in convoca_services().items() if s["command"][0] == "run"}


def dockerfile() -> list[str]:
    """The Dockerfile's instructions, continuation lines joined, comments left out."""
    joined = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text(encoding="utf-8"))
    return [line.strip() for line in joined.splitlines()
            if line.strip() and not line.lstrip().startswith("#")]


def env_example() -> dict[str, str]:
    pairs = {}
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, sep, value = line.partition("=")
            assert sep, f".env.example: {line!r} is no NAME=value"
            pairs[key.strip()] = value.strip()
    return pairs


def caddy_placeholders() -> set[str]:
    return set(re.findall(r"\{\$([A-Z_]+)", CADDYFILE.read_text(encoding="utf-8")))


def script_variables(path: Path) -> set[str]:
    return set(re.findall(r"\$\{([A-Z_]+)", path.read_text(encoding="utf-8")))


# --- compose.yaml --------------------------------------------------------------------------


def test_every_convoca_service_runs_a_real_convoca_subcommand() -> None:
    commands = {name: s.get("command") for name, s in convoca_services().items()}
    assert commands == {"migrate": ["db", "upgrade"], "app1": ["run"], "app2": ["run"]}
    parser = _parser()
    for name, argv in commands.items():
        args = parser.parse_args(argv)  # the CLI's own parser: an unknown one exits
        assert not getattr(args, "demo", False), name
    image_entrypoint = next(line for line in dockerfile() if line.startswith("ENTRYPOINT"))
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert image_entrypoint == 'ENTRYPOINT ["convoca"]' and scripts["convoca"] == "bot.cli:main"


def test_every_variable_a_service_sets_is_one_its_program_reads() -> None:
    backup_reads = script_variables(BACKUP)
    for name, service in services().items():
        given = set(service.get("environment") or {})
        if name in convoca_services():
            unknown = given - SETTINGS
        elif service["image"].startswith("caddy:"):
            unknown = given - caddy_placeholders()
            assert caddy_placeholders() <= given, "a {$NAME} of the Caddyfile left unset"
        elif service["image"].startswith("postgres:"):
            unknown = {v for v in given - backup_reads - {"TZ"}
                       if not POSTGRES_VARIABLE.fullmatch(v)}
        else:
            raise AssertionError(f"{name}: an image this test does not know")
        assert not unknown, f"{name} sets {sorted(unknown)}, which nothing reads"


def test_images_are_pinned_and_convoca_is_built_from_here() -> None:
    for name, service in services().items():
        image = interpolate(service["image"], {})
        repo, _, tag = image.rpartition(":")
        assert repo and re.match(r"\d", tag) and "latest" not in tag, f"{name}: {image}"
    assert {s["image"] for s in convoca_services().values()} == {
        "convoca:${CONVOCA_VERSION:-0.1.0}"}
    postgres = {s["image"] for s in services().values() if s["image"].startswith("postgres:")}
    # pg_dump refuses a server newer than itself: the backup runs the database's image.
    assert len(postgres) == 1


def test_every_long_running_service_has_a_healthcheck_and_restarts() -> None:
    for name, service in services().items():
        if name == "migrate":
            assert service["restart"] == "no" and "healthcheck" not in service
            continue
        test = service.get("healthcheck", {}).get("test")
        assert test and test[0] == "CMD" and len(test) > 1, name
        assert service["restart"] == "unless-stopped", name
    for service in app_services().values():
        assert HEALTH_PATH in " ".join(service["healthcheck"]["test"])


def test_two_app_processes_alike_behind_the_proxy() -> None:
    apps = app_services()
    assert len(apps) == 2
    first, second = apps.values()
    assert first == second  # same image, settings, command and checks: either takes anything
    env = first["environment"]
    assert env["PUBLIC_URL"].startswith("https://") and env["HTTP_LISTEN"].startswith("0.0.0.0:")
    assert not any("ports" in s for s in convoca_services().values())  # Caddy alone is reached
    port = env["HTTP_LISTEN"].rpartition(":")[2]
    caddy = CADDYFILE.read_text(encoding="utf-8")
    upstreams = re.search(r"reverse_proxy\s+([^{]+)\{", caddy)
    assert upstreams and upstreams.group(1).split() == [f"{n}:{port}" for n in apps]
    assert re.search(rf"health_uri\s+{re.escape(HEALTH_PATH)}\s", caddy)
    policy = re.search(r"lb_policy\s+(\S+)", caddy)
    assert policy and policy.group(1) not in ("cookie", "ip_hash", "client_ip_hash", "header")
    proxy = next(s for s in services().values() if s["image"].startswith("caddy:"))
    assert {"80:80", "443:443"} <= set(proxy["ports"])
    assert any(v.startswith("caddy_data:/data") for v in proxy["volumes"])  # the certificates


def test_start_order_waits_on_health_and_on_the_migration() -> None:
    s = services()
    for name, service in s.items():
        for needed, how in (service.get("depends_on") or {}).items():
            assert needed in s and how["condition"] in (
                "service_healthy", "service_completed_successfully", "service_started"), name
    assert s["migrate"]["depends_on"] == {"db": {"condition": "service_healthy"}}
    for service in app_services().values():
        assert service["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
        assert service["depends_on"]["db"] == {"condition": "service_healthy"}
    assert s["backup"]["depends_on"]["db"] == {"condition": "service_healthy"}


def test_the_database_and_the_backups_live_in_named_volumes() -> None:
    s, declared = services(), set(compose()["volumes"])
    assert "db:/var/lib/postgresql/data" in s["db"]["volumes"]
    backup = s["backup"]
    into = backup["environment"]["BACKUP_DIR"]
    assert f"backups:{into}" in backup["volumes"]
    assert {"db", "backups"} <= declared
    keep = backup["environment"]["BACKUP_KEEP_DAYS"]
    assert re.fullmatch(r"\$\{BACKUP_KEEP_DAYS:-\d+\}", keep)
    # The scheduled run is the script tested below, mounted as it is in the repository.
    assert "./scripts/backup.sh:/usr/local/bin/convoca-backup:ro" in backup["volumes"]
    assert backup["entrypoint"] == ["/bin/sh", "/usr/local/bin/convoca-backup"]
    assert backup["command"][0] == "--daily"


def test_env_example_names_every_setting_the_deployment_needs() -> None:
    example = env_example()
    text_ = COMPOSE.read_text(encoding="utf-8")
    compose_variables = set(INTERPOLATED.findall(text_))
    assert set(REQUIRED.findall(text_)) <= set(example), "a required ${NAME:?} not in .env.example"
    unknown = set(example) - SETTINGS - compose_variables
    assert not unknown, f".env.example names {sorted(unknown)}, which nothing reads"
    # What compose sets itself is not the .env's to say (it would be overridden silently).
    set_by_compose = set(next(iter(app_services().values()))["environment"])
    assert not set(example) & set_by_compose
    assert {"TELEGRAM_BOT_TOKEN", "WEBHOOK_SECRET", "POSTGRES_PASSWORD",
            "CONVOCA_DOMAIN"} <= set(example)
    lines = ENV_EXAMPLE.read_text(encoding="utf-8").splitlines()
    for i, line in enumerate(lines):  # each setting says what it is, just above it
        if line and not line.startswith("#"):
            assert lines[i - 1].startswith("#"), f".env.example: {line} has no comment"
    for secret in ("TELEGRAM_BOT_TOKEN", "WEBHOOK_SECRET", "POSTGRES_PASSWORD",
                   "WHATSAPP_ACCESS_TOKEN", "WHATSAPP_APP_SECRET", "WHATSAPP_VERIFY_TOKEN"):
        assert example[secret] == "", f"{secret} must not ship with a value"


def test_env_example_filled_in_gives_settings_for_the_webhook(monkeypatch, tmp_path) -> None:
    """The .env an IT person writes from the example (its secrets filled in), with what
    compose adds, is read by Convoca as Telegram by webhook at the public name."""
    for name in SETTINGS:
        monkeypatch.delenv(name, raising=False)
    example = env_example() | {"TELEGRAM_BOT_TOKEN": "123456:ABCDEF-token",
                               "WEBHOOK_SECRET": SECRET, "POSTGRES_PASSWORD": "pw-123"}
    values = example | {k: interpolate(v, example)
                        for k, v in next(iter(app_services().values()))["environment"].items()}
    monkeypatch.chdir(tmp_path)  # no .env of the developer's
    settings = load_settings(**{k.lower(): v for k, v in values.items()
                                if k.lower() in Settings.model_fields})
    assert settings.telegram_webhook_url == "https://convoca.example.org"
    assert settings.database_url == "postgresql+asyncpg://convoca:pw-123@db:5432/convoca"
    assert settings.http_listen == "0.0.0.0:8080" and not settings.log_file
    assert not settings.whatsapp_enabled


def interpolate(value: str, env: dict[str, str]) -> str:
    """compose's ${NAME}, ${NAME:-default} and ${NAME:?error}, as compose reads them."""
    def one(m: re.Match[str]) -> str:
        name, op, arg = m.group(1), m.group(2), m.group(3)
        if env.get(name):
            return env[name]
        if op == ":?":
            raise AssertionError(f"compose would stop: {arg}")
        return arg or ""
    return re.sub(r"\$\{([A-Z_]+)(?:(:[-?])([^}]*))?\}", one, value)


# --- Dockerfile -----------------------------------------------------------------------------


def test_dockerfile_installs_the_locked_tree_as_a_user_who_is_not_root() -> None:
    lines = dockerfile()
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users and users[-1] not in ("root", "0", "0:0")
    installs = [line for line in lines if "pip install" in line]
    assert any("--require-hashes" in line and "run.lock" in line for line in installs)
    assert any("--no-deps" in line and "/src" in line for line in installs)
    whole = DOCKERFILE.read_text(encoding="utf-8")
    assert "dev.lock" not in whole and "[dev]" not in whole
    froms = [line.split()[1] for line in lines if line.startswith("FROM ")]
    assert len(froms) == 2 and all(re.search(r":\d+\.\d+", f) for f in froms)  # multi-stage
    owned = next(line for line in lines if "install -d -o convoca" in line)
    assert "/srv/convoca/data" in owned and "/srv/convoca/log" in owned
    assert next(line for line in lines if line.startswith("WORKDIR")).split()[1] == "/srv/convoca"


def test_the_image_gets_every_package_and_nothing_secret() -> None:
    packages = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "packages"]["find"]["include"]
    tops = {p.rstrip("*") for p in packages}
    copied = {line.split()[1] for line in dockerfile() if line.startswith("COPY ")}
    ignore = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    assert ignore[[i for i, x in enumerate(ignore) if not x.startswith("#")][0]] == "*"
    for top in tops:
        assert top in copied and f"!{top}/" in ignore, top
    assert not any(x.startswith("!") and ("env" in x or "test" in x) for x in ignore)


def build_stage_copies() -> list[tuple[list[str], str]]:
    """The build stage's COPY instructions: what goes from the build context, and where."""
    copies = []
    for line in dockerfile():
        if line.startswith("FROM ") and copies:
            break
        if line.startswith("COPY ") and "--from" not in line:
            *sources, dest = line.split()[1:]
            copies.append((sources, dest))
    return copies


async def test_the_image_build_steps_give_a_package_that_migrates_and_knows_its_templates(
        tmp_path: Path) -> None:
    """What the build stage does, without Docker: the context .dockerignore leaves, copied as
    the Dockerfile copies it, installed as it installs it (not editable: no file of the
    repository is reachable afterwards), then `convoca db upgrade` and the templates."""
    ignore = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    let_in = {x[1:].rstrip("/") for x in ignore if x.startswith("!")}
    src = tmp_path / "src"
    for sources, dest in build_stage_copies():
        for source in sources:
            assert source in let_in, f"COPY {source}: .dockerignore keeps it out of the context"
            if dest == "/tmp/run.lock":
                continue  # the dependencies: the shared environment has them already
            assert dest.startswith("/src/"), dest
            target = src / dest.removeprefix("/src/") if not dest.endswith("/") \
                else src / dest.removeprefix("/src/") / Path(source).name
            if (ROOT / source).is_dir():
                shutil.copytree(ROOT / source, target,
                                ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(ROOT / source, target)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    site = tmp_path / "site"
    built = await run([*pip, "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                       str(src), "-w", str(tmp_path / "wheel")], cwd=tmp_path)
    assert built.returncode == 0, built.stderr
    [wheel] = (tmp_path / "wheel").glob("convoca-*.whl")
    installed = await run([*pip, "install", "--no-deps", "--no-index", "--no-compile",
                           "--target", str(site), str(wheel)], cwd=tmp_path)
    assert installed.returncode == 0, installed.stderr
    env = {"PYTHONPATH": str(site), "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/c.sqlite3",
           "DEFAULT_LOCALE": "en"}
    where = await run([sys.executable, "-c", "import bot; print(bot.__file__)"],
                      cwd=tmp_path, env=env)
    assert where.stdout.startswith(str(site)), where.stdout + where.stderr
    upgraded = await run([sys.executable, "-m", "bot", "db", "upgrade"], cwd=tmp_path, env=env)
    assert upgraded.returncode == 0, upgraded.stdout + upgraded.stderr
    assert "up to date" in upgraded.stdout
    shipped = await run([sys.executable, "-m", "bot", "program", "templates"], cwd=tmp_path,
                        env=env)
    assert "ecomercado-15m" in shipped.stdout.split(), shipped.stderr
    assert list(site.glob("web/templates/*.html")) and list(site.glob("locales/es/*/*.po"))


async def run(argv: list[str], *, cwd: Path, env: dict[str, str] | None = None
              ) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(
        subprocess.run, argv, cwd=cwd, env=clean_environment() | (env or {}),
        capture_output=True, text=True, timeout=300)


# --- /healthz -------------------------------------------------------------------------------


async def health_of(server: HttpServer) -> int:
    async with aiohttp.ClientSession() as http, http.get(
            f"http://127.0.0.1:{server.port}{HEALTH_PATH}") as resp:
        return resp.status


async def test_healthz_is_200_while_the_database_answers_and_503_when_not(sqlite_url) -> None:
    answering = db.create_engine(sqlite_url)
    away = db.create_engine(f"postgresql+asyncpg://convoca@127.0.0.1:{free_port()}/convoca")
    try:
        for engine, status in ((answering, 200), (away, 503)):
            server = HttpServer("127.0.0.1:0")
            server.health(lambda engine=engine: db.answers(engine))
            async with server:
                assert await health_of(server) == status
            assert server.paths == []  # alone it starts no server (`convoca worker`)
    finally:
        await answering.dispose()
        await away.dispose()


# --- each service's command as a plain process ----------------------------------------------


def pg_base() -> str:
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(f"the deployment's processes run on PostgreSQL: set {PG_ENV}")
    return base


def clean_environment() -> dict[str, str]:
    """This machine's environment without any Convoca setting a developer may have set."""
    return {k: v for k, v in os.environ.items()
            if k.upper() not in SETTINGS and not k.startswith("PG")}


def compose_environment(service: str, **here: str) -> dict[str, str]:
    """The environment compose gives ``service``, with what names the compose network
    (``here``: the database's address, where to listen, the public name) replaced by this
    machine's."""
    given = {k: str(v) for k, v in services()[service].get("environment", {}).items()}
    assert set(here) <= set(given) | {"PUBLIC_URL"}, "a variable compose does not set"
    return given | here


def mounted(service: dict, variable: str, here: Path) -> str:
    """The folder a bind mount gives the service at the path ``variable`` names, made here
    as compose would make the mount's source."""
    inside = service["environment"][variable]
    sources = [v.split(":")[0] for v in service.get("volumes", [])
               if v.split(":")[1] == inside]
    assert sources, f"{variable} names {inside}, which no volume of the service mounts"
    folder = here / sources[0].removeprefix("./")
    folder.mkdir(parents=True, exist_ok=True)
    return str(folder)


@pytest.fixture
async def started(tmp_path: Path) -> AsyncIterator:
    procs: list[asyncio.subprocess.Process] = []

    async def start(argv: list[str], env: dict[str, str]) -> asyncio.subprocess.Process:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", *argv, cwd=tmp_path,
            env=clean_environment() | env | {"PYTHONPATH": str(ROOT)},
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        procs.append(proc)
        return proc

    yield start
    for p in procs:
        if p.returncode is None:
            p.kill()
        out = await p.stdout.read() if p.stdout else b""
        await p.wait()
        print(f"--- convoca (exit {p.returncode}):\n{out.decode(errors='replace')}")  # on failure


async def healthz(http: aiohttp.ClientSession, port: int) -> int:
    for _ in range(300):  # a process takes a few seconds to listen
        try:
            async with http.get(f"http://127.0.0.1:{port}{HEALTH_PATH}") as resp:
                return resp.status
        except aiohttp.ClientConnectionError:
            await asyncio.sleep(0.1)
    raise AssertionError(f"nothing listens on port {port}")


@pytest.mark.parametrize("telegram_driver", ["ptb"])  # .env.example's driver
async def test_migrate_then_two_app_processes_answer_health_and_webhooks(
        fake_tg, started, tmp_path) -> None:
    async with scratch_database(pg_base(), "convoca_deploy") as url:
        migrate = await started(services()["migrate"]["command"],
                                compose_environment("migrate", DATABASE_URL=url))
        out, _ = await asyncio.wait_for(migrate.communicate(), 120)
        assert migrate.returncode == 0, out.decode()
        engine = db.create_engine(url)
        try:
            assert await db.pending_migrations(engine) == []
        finally:
            await engine.dispose()

        dot_env = {"TELEGRAM_BOT_TOKEN": fake_tg.token, "TELEGRAM_API_BASE": fake_tg.base_url,
                   "TELEGRAM_DRIVER": "ptb", "WEBHOOK_SECRET": SECRET}
        fake_tg.add_chat(CHAT)
        ports = {}
        for name, service in app_services().items():
            ports[name] = free_port()
            await started(service["command"], dot_env | compose_environment(
                name, DATABASE_URL=url, HTTP_LISTEN=f"127.0.0.1:{ports[name]}",
                PUBLIC_URL="https://convoca.example.org",
                TEMPLATES_DIR=mounted(service, "TEMPLATES_DIR", tmp_path)))
        async with aiohttp.ClientSession() as http:
            for port in ports.values():
                assert await healthz(http, port) == 200
            # The proxy's round robin: the person's first update reaches one, the next the other.
            first, second = ports.values()
            assert await post(http, first, command_update(801, CHAT, "/start")) == 200
            await fake_tg.wait_for_sent(CHAT, 1, timeout=60)
            assert fake_tg.texts(CHAT)[0].startswith("¡Hola! Soy Convoca")
            assert await post(http, second, command_update(802, CHAT, "/ayuda")) == 200
            await fake_tg.wait_for_sent(CHAT, 2, timeout=60)
            hooks = {r.params["url"] for r in fake_tg.calls("setWebhook")}
            assert hooks == {"https://convoca.example.org/telegram"}

            # The database gone: the proxy must stop sending them webhooks.
            server = make_url(load_settings(database_url=pg_base(), _env_file=None)
                              .database_url).render_as_string(hide_password=False)
            admin = db.create_engine(server, isolation_level="AUTOCOMMIT")
            try:
                async with admin.connect() as conn:
                    await conn.execute(text(
                        f'DROP DATABASE "{make_url(url).database}" WITH (FORCE)'))
            finally:
                await admin.dispose()
            for port in ports.values():
                assert await healthz(http, port) == 503


# --- backup and restore, once ----------------------------------------------------------------


def libpq_environment(url: str) -> dict[str, str]:
    u = make_url(url)
    env = {"PGHOST": u.host or "127.0.0.1", "PGPORT": str(u.port or 5432),
           "PGUSER": u.username or "postgres", "PGDATABASE": u.database or ""}
    if u.password:
        env["PGPASSWORD"] = str(u.password)
    return env


async def sh(script: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    # POSIX sh, as in the postgres image (dash on Debian): no bashism may pass here.
    return await asyncio.to_thread(
        subprocess.run, ["/bin/sh", str(script), *args], env=clean_environment() | env,
        capture_output=True, text=True, timeout=120)


async def write_some_of_everything(url: str) -> None:
    engine = db.create_engine(url)
    await db.upgrade(engine)
    now = datetime.now(UTC)
    async with db.session_factory(engine)() as s:
        await programs.create(s, template="ecomercado-15m", start=date(2026, 3, 2),
                              name="Ecomercado Solidario de Peñalolén", now=now)
        for i, name in enumerate(["María José Núñez", "Ñuñoa Pérez", "Ana"]):
            person = Person(created_at=now, consent_at=now, locale="es", reachable=True,
                            name=name, phone=f"+5691234567{i}")
            person.addresses = [ChannelAddress(channel="telegram", address=str(9000 + i),
                                               created_at=now)]
            s.add(person)
        await s.commit()
    await engine.dispose()


async def every_row(url: str) -> dict[str, list[tuple]]:
    engine = db.create_engine(url)
    try:
        async with engine.connect() as conn:
            rows = {}
            for table in Base.metadata.sorted_tables:
                keys = list(table.primary_key.columns) or list(table.columns)
                result = await conn.execute(select(table).order_by(*keys))
                rows[table.name] = [tuple(r) for r in result]
            rows["alembic_version"] = [tuple(r) for r in await conn.execute(
                text("SELECT version_num FROM alembic_version ORDER BY 1"))]
    finally:
        await engine.dispose()
    return rows


async def test_backup_then_the_documented_restore_gives_back_every_row(tmp_path) -> None:
    base = pg_base()
    backups = tmp_path / "backups"
    backups.mkdir()
    old = backups / "convoca-20200101T030000Z.dump"
    old.write_bytes(b"an old dump")
    fifteen_days_ago = time.time() - 15 * 86400
    os.utime(old, (fifteen_days_ago, fifteen_days_ago))
    recent = backups / "convoca-20991231T030000Z.dump"  # younger than BACKUP_KEEP_DAYS
    recent.write_bytes(b"a recent dump")
    async with scratch_database(base, "convoca_backup") as source, \
            scratch_database(base, "convoca_restored") as target:
        await write_some_of_everything(source)
        env = libpq_environment(source) | {"BACKUP_DIR": str(backups), "BACKUP_KEEP_DAYS": "14"}
        done = await sh(BACKUP, env=env)
        assert done.returncode == 0, done.stderr
        dumps = sorted(set(backups.glob("convoca-*.dump")) - {recent})
        assert len(dumps) == 1 and not old.exists() and recent.exists()
        [dump] = dumps
        assert re.fullmatch(r"convoca-\d{8}T\d{6}Z\.dump", dump.name)
        assert dump.stat().st_mode & 0o077 == 0  # everyone's data: the owner's alone
        assert (await sh(BACKUP, "--check", env=env)).returncode == 0

        restored = await sh(RESTORE, str(dump), env=libpq_environment(target))
        assert restored.returncode == 0, restored.stderr
        assert "convoca db upgrade" in restored.stdout
        upgraded = await asyncio.to_thread(
            subprocess.run, [sys.executable, "-m", "bot", "db", "upgrade"], cwd=tmp_path,
            capture_output=True,
            text=True, timeout=120,
            env=clean_environment() | {"DATABASE_URL": target, "PYTHONPATH": str(ROOT)})
        assert upgraded.returncode == 0, upgraded.stderr

        before, after = await every_row(source), await every_row(target)
        assert after == before
        assert len(before["people"]) == 3 and before["programs"]
        assert any("Núñez" in str(row) for row in after["people"])

        # A restore over a database in use would mix two installations: refused.
        again = await sh(RESTORE, str(dump), env=libpq_environment(source))
        assert again.returncode == 1 and "not empty" in again.stderr
        # A failed dump keeps the earlier ones, and the healthcheck says so.
        gone = await sh(BACKUP, env=env | {"PGDATABASE": "convoca_no_such_database"})
        assert gone.returncode == 1 and dump.exists() and not list(backups.glob(".*.partial"))
        assert (await sh(BACKUP, "--check", env=env)).returncode == 1


def test_the_restore_is_documented_as_tested() -> None:
    guide = (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
    assert "convoca-restore" in guide and "db upgrade" in guide
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "docs/deploy.md" in readme
