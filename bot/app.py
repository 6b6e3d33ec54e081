"""Wiring: everything long-lived is built here, once, and passed in."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.config import Settings
from channels import Capabilities
from domain.program_templates import TemplateError
from domain.template_library import TemplateLibrary
from handlers.buttons import ButtonCodec
from handlers.core import Core, RouteConflict, Router, Services
from locales import Catalogs, Msg, Raw
from scheduler.dispatcher import Channel, Dispatcher, Limits
from scheduler.leases import Lease, LeaseTimes
from scheduler.runner import NoticeScheduler
from storage import db, people, state
from storage.clock import Clock, SystemClock

log = logging.getLogger(__name__)

# Where most families and members are (WhatsApp reaches about 93% of people in Chile): what
# the team hands people, a printed card or a code to pass on, opens WhatsApp when this
# installation speaks it, else Telegram (handlers.core.Services.link_to_hand).
HANDED_LINKS = ("whatsapp", "telegram")


class StartupError(Exception):
    """Convoca cannot start; ``message`` says why in the operator's words (cli.po)."""

    def __init__(self, key: str, **params: Any) -> None:
        self.message = Msg(key, params)
        super().__init__(key, params)


@dataclass
class App:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    clock: Clock
    catalogs: Catalogs
    services: Services
    core: Core
    # The templates and forms programmes can be made from (shipped, and TEMPLATES_DIR's).
    templates: TemplateLibrary | None = None

    def outbox(self, channels: Iterable[Channel], **kwargs: object) -> Dispatcher:
        """The outbox delivering through ``channels``; what each can show (now that they
        are built, a deep link needs Telegram's bot name) is what the handlers read."""
        channels = list(channels)
        for channel in channels:
            self.services.capabilities[channel.name] = channel.capabilities
        return Dispatcher(self.sessions, self.clock, channels, **kwargs)  # type: ignore[arg-type]

    async def close(self) -> None:
        await self.engine.dispose()


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


async def open_database(url: str, *, migrate: bool | None = None) -> AsyncEngine:
    """Open the database; the embedded SQLite is migrated on the spot so a newcomer needs no
    extra step, while a shared PostgreSQL waits for an operator's `convoca db upgrade`."""
    engine = db.create_engine(url)
    if migrate is None:
        migrate = is_sqlite(url)
    try:
        if migrate:
            await db.upgrade(engine)
        else:
            pending = await db.pending_migrations(engine)
            if pending:
                raise StartupError("cli.needs_migrations", count=len(pending))
    except StartupError:
        await engine.dispose()
        raise
    except Exception as exc:
        await engine.dispose()
        # The driver's own words are the detail an operator needs to fix it.
        raise StartupError("cli.database_unreachable",
                           detail=Raw(f"{type(exc).__name__}: {exc}")) from exc
    return engine


def assemble_router() -> Router:
    """The one router, or a StartupError naming both handlers of a route claimed twice."""
    try:
        # Imported here, not above: a module that registers a route twice fails while it
        # is imported, and that too must reach the operator as a start-up error.
        from handlers.routes import build_router

        return build_router()
    except RouteConflict as exc:
        raise StartupError("cli.route_conflict", detail=Raw(str(exc))) from exc


def channel_capabilities(settings: Settings) -> dict[str, Capabilities]:
    """What each channel this installation speaks can show, as the channel declares it: the
    console always (Convoca without a token, the demo), Telegram with a token, WhatsApp with
    its token and phone-number id."""
    from bot import console

    found = {console.CHANNEL: console.CAPABILITIES}
    if settings.token:
        from bot import telegram

        found[telegram.CHANNEL] = telegram.CAPABILITIES
    if settings.whatsapp_enabled:
        from bot import whatsapp

        found[whatsapp.CHANNEL] = whatsapp.CAPABILITIES
    return found


def console_look(channel: str | None) -> Capabilities | None:
    """What the console lays its messages out within for `--channel`: WhatsApp's limits;
    None, its own rendering, which is Telegram's too (numbered buttons in rows, a printed
    month, a phone to share, a message's new state printed anew)."""
    if channel == "whatsapp":
        from bot import whatsapp

        return whatsapp.CAPABILITIES
    return None


async def build_app(settings: Settings, *, clock: Clock | None = None,
                    migrate: bool | None = None, catalogs: Catalogs | None = None) -> App:
    router = assemble_router()  # before the database: nothing to close if it fails
    catalogs = catalogs or Catalogs(default=settings.default_locale)
    templates = load_templates(settings, frozenset(router.commands), catalogs)
    engine = await open_database(settings.database_url, migrate=migrate)
    sessions = db.session_factory(engine)
    clock = clock or SystemClock()
    secret = await state.get_or_create(sessions, "button_secret")
    capabilities = channel_capabilities(settings)
    # One codec signs for every channel: its payloads fit the one that carries the least.
    action_bytes = min(c.action_bytes for c in capabilities.values())
    services = Services(
        sessions=sessions,
        clock=clock,
        catalogs=catalogs,
        buttons=ButtonCodec(bytes.fromhex(secret), action_bytes),
        capabilities=capabilities,
        handed_links=HANDED_LINKS,
        timezone=settings.timezone,
        default_locale=settings.default_locale,
        admin_ids=frozenset(f"telegram:{i}" for i in settings.admin_telegram_ids),
        panel_url=settings.panel_url if settings.web_panel else None,
        panel_app_url=f"{settings.public_url}/web/telegram"
        if settings.web_panel and settings.public_url else None,
    )
    return App(settings, engine, sessions, clock, catalogs, services,
               Core(services, router), templates)


def load_templates(settings: Settings, reserved_commands: frozenset[str],
                   catalogs: Catalogs) -> TemplateLibrary:
    """Every template and form, validated once: a wrong file stops the start, named with
    its line (the rest of its problems: `convoca template validate FILE`)."""
    from documents.verificadores import made_from

    try:
        return TemplateLibrary.load(settings.templates_dir, reserved_commands=reserved_commands,
                                    documents=made_from())
    except TemplateError as exc:
        lines = exc.lines_in(catalogs)
        more = len(lines) - 1
        detail = lines[0] + (f" (+{more})" if more else "")
        raise StartupError("templates.startup_invalid", detail=Raw(detail)) from None


def several_processes(app: App) -> bool:
    """Whether other processes may share this database, so that leases must decide who
    sends, polls and ticks: on PostgreSQL only. One SQLite file serves one process, which
    sends its replies at once, without a lease's renewals on its one connection."""
    return app.engine.dialect.name == "postgresql"


def lease_times(settings: Settings) -> LeaseTimes:
    return LeaseTimes(settings.lease_seconds, settings.lease_renew_seconds,
                      settings.lease_margin_seconds)


def notice_scheduler(app: App, on_queued: Callable[[], None] | None = None,
                     lease: Lease | None = None) -> NoticeScheduler:
    from services import notices
    from services.meetings import invite_due_series_meetings

    return NoticeScheduler(app.sessions, app.clock, notices.compose, on_queued=on_queued,
                           after_queued=notices.after_queued,
                           jobs=[invite_due_series_meetings], lease=lease)


@dataclass
class Delivery:
    """What runs beside the conversation: the outbox, the scheduler, and the follower that
    keeps each broadcast's progress message up to date."""

    outbox: Dispatcher
    scheduler: NoticeScheduler
    follower: asyncio.Task[None]

    async def stop(self) -> None:
        self.follower.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.follower
        await self.scheduler.stop()
        await self.outbox.stop()


async def start_delivery(app: App, channels: Iterable[Channel], *,
                         tick_on_schedule: bool = True, several: bool = False) -> Delivery:
    """Start delivering; with tick_on_schedule=False (the demo) the caller ticks the
    scheduler itself, when its simulated clock moves. ``several``: other processes may run
    on the same database, and leases decide which one sends for each platform account and
    which one ticks."""
    broadcast_moved = asyncio.Event()
    times = lease_times(app.settings) if several else None
    outbox = app.outbox(channels, on_sent=lambda row, _result: row.batch and broadcast_moved.set(),
                        leases=times)
    await outbox.start()
    tick_lease = None if times is None else Lease(app.sessions, app.clock, "scheduler",
                                                  outbox.worker_id, times)
    sched = notice_scheduler(app, outbox.wake, tick_lease)
    if tick_on_schedule:
        sched.start()
    follower = asyncio.create_task(_follow_broadcasts(app, outbox, broadcast_moved),
                                   name="broadcast-progress")
    return Delivery(outbox, sched, follower)


async def _follow_broadcasts(app: App, outbox: Dispatcher, moved: asyncio.Event) -> None:
    from services import outreach

    while True:
        # A broadcast's rows being sent wake this; the timeout also covers a restart.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(moved.wait(), 30)
        moved.clear()
        try:
            async with app.sessions() as s:
                ids = await outreach.update_progress_messages(s, app.clock.now())
                await s.commit()
            await outbox.deliver_now(ids)
        except Exception:  # the next round tries again; the outbox holds the truth
            log.exception("could not update broadcast progress")
        await asyncio.sleep(1.0)  # about one edit a second per progress message


def freeze_startup_objects() -> None:
    """Keep what start-up built (the Telegram library's types, the ORM's mappers, the
    catalogs) out of the garbage collector's full passes: scanning it took tens of ms each time,
    a stall long enough to bunch paced sends into a 429. No collection first: it would cost
    start-up a full pass for the little garbage it would keep from being frozen."""
    gc.freeze()


async def run_channels(app: App, *, poll: bool = True) -> None:
    """Run every channel the settings turn on, in this one process: Telegram with a token,
    WhatsApp with its token and phone-number id; one outbox and one scheduler deliver for
    both, and one HTTP server (HTTP_LISTEN) takes the webhooks. ``poll=False`` (``convoca
    worker``): the outbox and the scheduler only."""
    from bot.http import HttpServer

    settings = app.settings
    channels: list[Channel] = []
    closing: list[Callable[[], Any]] = []
    starting: list[Callable[[Dispatcher], Any]] = []
    keeping: list[Any] = []  # what runs beside the channels in `worker` too
    server = HttpServer(settings.http_listen)
    server.health(lambda: db.answers(app.engine))
    try:
        if settings.token:
            if poll:
                await forget_unlisted_admins(app)
            starting.append(await _telegram(app, channels, closing, server, poll))
        if settings.whatsapp_enabled:
            started = await _whatsapp(app, channels, closing, server, keeping,
                                      alone=not settings.token)
            if started is not None:
                starting.append(started)
        freeze_startup_objects()  # before anything is sent: the collection itself is a stall
        delivery = await start_delivery(app, channels, several=several_processes(app))
        if poll and settings.web_panel:
            mount_panel(app, server, delivery.outbox)
        tasks: list[asyncio.Future[Any]] = []
        try:
            if poll:
                runs = [start(delivery.outbox) for start in starting]
            else:
                log.info("worker: delivering the outbox and running the scheduler only")
                runs = [asyncio.Event().wait()]
            tasks = [asyncio.ensure_future(r) for r in [*runs, *keeping]]
            if server.paths:
                await start_server(server, settings.http_listen)
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:  # a channel that stops (its error) stops the process
                task.result()
        finally:
            # No new webhooks first; then what was taken gets its grace, and the rest waits
            # in the database.
            await server.stop()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await delivery.stop()
    finally:
        for close in reversed(closing):
            with contextlib.suppress(Exception):
                await close()


async def start_server(server: Any, listen: str) -> None:
    """The HTTP server on HTTP_LISTEN. A port in use: when the panel alone needed it (the
    chat is polled), the bot runs without the panel; a webhook cannot, so Convoca stops
    and names the setting."""
    try:
        await server.start()
    except OSError as exc:
        if server.paths == ["/web"]:
            log.error("the web panel could not listen on %s (%s); the bot runs without it",
                      listen, exc)
            return
        raise StartupError("cli.listen_failed", listen=Raw(listen),
                           reason=Raw(str(exc))) from None


def _waker(outbox: Dispatcher) -> Callable[[list[int]], Awaitable[None]]:
    async def wake(ids: list[int]) -> None:
        outbox.wake()
    return wake


def mount_panel(app: App, server: Any, outbox: Dispatcher | None) -> None:
    """The web panel at /web on the process's one HTTP server, on the same use cases."""
    from web.app import build
    from web.context import Panel

    settings = app.settings
    panel = Panel(
        app.sessions, app.clock, app.catalogs, settings.panel_url,
        telegram_token=settings.token, capabilities=app.services.capabilities,
        wake_outbox=_waker(outbox) if outbox is not None else None,
        default_locale=settings.default_locale, handed_links=app.services.handed_links,
    )
    server.mount("/web", build(panel), home=True)


# The name the tests and `convoca worker` knew it by, when Telegram was the only channel.
run_telegram = run_channels


async def _telegram(app: App, channels: list[Channel], closing: list[Any], server: Any,
                    poll: bool) -> Callable[[Dispatcher], Any]:
    from bot.telegram import TelegramChannel, TelegramRuntime, make_bot
    from bot.telegram.driver import ApiError, NotFound, Unauthorized

    settings = app.settings
    assert settings.token
    bot = make_bot(settings.token, settings.telegram_api_base,
                   driver=settings.telegram_driver)
    closing.append(bot.close)
    try:
        username = (await bot.get_me()).get("username")
    except (Unauthorized, NotFound) as exc:
        raise StartupError("cli.telegram_refused", detail=Raw(exc.message)) from None
    except ApiError as exc:
        raise StartupError("cli.telegram_unreachable", detail=Raw(exc.message),
                           base=Raw(settings.telegram_api_base)) from None
    if username:
        await state.put(app.sessions, state.BOT_USERNAME, username)
    channels.append(TelegramChannel(
        bot, app.catalogs, app.services.buttons, settings.timezone,
        limits=Limits(per_second=settings.telegram_messages_per_second),
        username=username, account=settings.token.partition(":")[0],
    ))
    webhook = settings.telegram_webhook_url if poll else None
    if webhook:
        if settings.webhook_secret is None:  # load_settings refuses this already
            raise StartupError("WEBHOOK_URL needs WEBHOOK_SECRET")
        secret = settings.webhook_secret.get_secret_value()

    def start(outbox: Dispatcher) -> Any:
        # Called before the server listens: the route is in place for Telegram's first post.
        runtime = TelegramRuntime(bot, app.core, outbox)
        log.info("Convoca is running on Telegram as @%s (driver: %s)", username, bot.name)
        if webhook:
            runtime.add_webhook_route(server, secret)
            return runtime.run_webhook(webhook, secret)
        if not several_processes(app):
            return runtime.poll()
        # Two getUpdates on one token conflict (409): one process polls, by a lease.
        return runtime.poll(Lease(app.sessions, app.clock,
                                  f"poller:telegram:{settings.token.partition(':')[0]}",
                                  outbox.worker_id, lease_times(settings)))

    return start


async def _whatsapp(app: App, channels: list[Channel], closing: list[Any], server: Any,
                    keeping: list[Any], *, alone: bool) -> Callable[[Dispatcher], Any] | None:
    """The WhatsApp channel, or None when Meta refuses the token and another channel runs:
    that one goes on (one clear line says why WhatsApp does not)."""
    from aiohttp import ClientError

    from bot.whatsapp import templates as wa_templates
    from bot.whatsapp.channel import WhatsAppChannel, WhatsAppRuntime
    from bot.whatsapp.client import CloudClient, CloudError
    from bot.whatsapp.errors import Kind, classify

    settings = app.settings
    assert settings.whatsapp_access_token and settings.whatsapp_phone_number_id
    client = CloudClient(settings.whatsapp_api_base,
                         settings.whatsapp_access_token.get_secret_value(),
                         settings.whatsapp_phone_number_id,
                         settings.whatsapp_business_account_id)
    closing.append(client.close)
    digits = await state.get(app.sessions, state.WHATSAPP_NUMBER)
    try:
        number = await client.phone_number()
        digits = "".join(c for c in number.get("display_phone_number", "") if c.isdigit()) \
            or digits
        if digits:
            await state.put(app.sessions, state.WHATSAPP_NUMBER, digits)
    except CloudError as exc:
        if classify(exc.code, exc.status) is Kind.TOKEN or exc.status in (400, 404):
            if alone:
                raise StartupError("cli.whatsapp_unreachable", detail=Raw(exc.message)) from exc
            log.error("WhatsApp refused Convoca's settings (%s): WhatsApp does not run; the "
                      "other channels do. Check WHATSAPP_ACCESS_TOKEN and "
                      "WHATSAPP_PHONE_NUMBER_ID.", exc.message)
            return None
        log.warning("WhatsApp's Cloud API did not answer at start (%s); starting anyway",
                    exc.message)
    except (TimeoutError, ClientError) as exc:
        # Meta away a moment: the outbox keeps what is due until it answers.
        log.warning("WhatsApp's Cloud API did not answer at start (%s: %s); starting anyway",
                    type(exc).__name__, exc)
    specs = wa_templates.load()
    channel = WhatsAppChannel(
        client, app.catalogs, app.services.buttons, settings.timezone, app.sessions,
        app.clock, specs, limits=Limits(per_second=settings.whatsapp_messages_per_second),
        display_number=digits or None)
    channels.append(channel)
    await _sync_templates(app, client, channel, specs)
    keeping.append(_keep_templates(app, client, channel, specs))

    def start(outbox: Dispatcher) -> Any:
        runtime = WhatsAppRuntime(
            client, app.core, outbox,
            app_secret=settings.whatsapp_app_secret.get_secret_value(),  # type: ignore[union-attr]
            verify_token=settings.whatsapp_verify_token.get_secret_value(),  # type: ignore[union-attr]
            phone_number_id=settings.whatsapp_phone_number_id)
        runtime.add_routes(server)
        log.info("Convoca is running on WhatsApp as +%s", digits or "?")
        return runtime.run()

    return start


async def _sync_templates(app: App, client: Any, channel: Any, specs: Any) -> None:
    """What Meta says of the templates, kept (when the business account is known); the
    channel then reads which are approved. A failure leaves the last status kept."""
    from bot.whatsapp.sync import sync_templates

    try:
        if app.settings.whatsapp_business_account_id:
            await sync_templates(app.sessions, app.clock, client, specs)
    except Exception as exc:
        log.warning("could not read the WhatsApp templates' status (%s: %s); the last one "
                    "kept is used", type(exc).__name__, exc)
    await channel.refresh_templates()


async def _keep_templates(app: App, client: Any, channel: Any, specs: Any) -> None:
    """Daily, as the issue's operators asked: a template Meta approved since goes."""
    while True:
        await asyncio.sleep(24 * 3600)
        await _sync_templates(app, client, channel, specs)


async def forget_unlisted_admins(app: App) -> int:
    """ADMIN_TELEGRAM_IDS is the truth about the roles it gave: whoever it no longer names
    loses them when Convoca starts (the process that reads the list on /start). Roles given
    by `convoca admin add`, `convoca role grant` or the panel are not the list's to take."""
    listed = [str(i) for i in app.settings.admin_telegram_ids]
    async with app.sessions() as s:
        gone = await people.revoke_unlisted(s, "telegram", listed, app.clock.now())
        await s.commit()
    for g in gone:
        log.warning("ADMIN_TELEGRAM_IDS no longer names person %s: their %s role in programme "
                    "%s, which the list gave, was taken back", g.person_id, g.role,
                    g.program_id)
    return len(gone)


def run_until_signalled(coro_factory) -> int:
    """Run the main coroutine; SIGTERM and Ctrl-C stop it cleanly."""

    async def main() -> None:
        task = asyncio.ensure_future(coro_factory())
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, task.cancel)
        with contextlib.suppress(asyncio.CancelledError):
            await task

    asyncio.run(main())
    return 0
