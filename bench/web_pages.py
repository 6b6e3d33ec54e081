"""Benchmark 7 — the web panel's render time at the server (issue 15: target ≤ 100 ms).

    python -m bench.web_pages --runs 7                     # SQLite (and PostgreSQL, below)
    python -m bench.web_pages --runs 7 --dbs sqlite,postgres

One programme of realistic size: 500 families (each a person with a chat) and 60
organisations (each a representative, an invitation, most a signed ficha), the Grupo Motor and
Consejo Local with their members, 30 meetings with their invitations and, for those held,
attendance; 24 delivery days with a pickup for every family (past days marked, the rest
notified or confirmed), and the outbox a year of that leaves: each day's notices, 8
broadcasts, the invitations, with receipts and some failures. Inserted in bulk.

Then the panel as `convoca run` mounts it (web.app.build under /web), signed in as the
gestora through a one-time link, and each page timed as a GET through httpx's ASGI transport
(the whole server side: routing, the session and role checks, the queries, the template; no
network). The pages are every section of web.sections.SECTIONS and every GET route in
web.pages whose only path parameter is the programme, plus record pages whose id the seed
can fill (a family, an organisation, a meeting, a delivery day). A page not built yet
answers 404: it is listed as missing, not timed. One warm-up GET each, then --runs rounds
(page order rotated per round); median (min–max) of the rounds, in ms.

PostgreSQL too when --dbs names it; by default when CONVOCA_BENCH_POSTGRES_URL is set."""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.common import (
    med,
    migrate,
    postgres_database,
    print_table,
    seed_forms,
    sqlite_url,
    summary,
    write_results,
)

TARGET_MS = 100.0
START = date(2026, 3, 2)
NOW = datetime(2026, 9, 15, 13, 0, tzinfo=UTC)  # mid-programme: days behind and ahead
SECTORS = ("Villa Alegre", "Población Esperanza", "Los Aromos", "El Sauce", "Centro",
           "Cerro Mayaca")


# --- seeding ------------------------------------------------------------------------------------


async def seed(url: str, families: int, organisations: int, meetings: int, days: int,
               broadcasts: int) -> dict[str, Any]:
    """The programme and its year; returns the row counts and ids the record pages need."""
    from sqlalchemy import func, insert, select

    from domain.org_kinds import KINDS as ORG_KINDS
    from handlers.events import Outgoing
    from locales import Msg
    from storage import db, programs
    from storage.models import (
        Attendance,
        Body,
        ChannelAddress,
        DeliveryDay,
        Family,
        FormDefinition,
        FormResponse,
        FormSignature,
        Meeting,
        Membership,
        Organization,
        OrganizationInvitation,
        OutboxMessage,
        Person,
        Pickup,
        Representative,
        RoleGrant,
        Rsvp,
    )

    await seed_forms(url)
    rng = random.Random(15)
    created = datetime.combine(START, datetime.min.time(), UTC) - timedelta(days=14)
    payload = Outgoing(text=Msg("input.not_understood")).to_json()
    engine = db.create_engine(url)
    rows: dict[str, list[dict[str, Any]]] = {k: [] for k in (
        "people", "addresses", "grants", "orgs", "reps", "invitations", "members", "families",
        "meetings", "rsvps", "attendance", "days", "pickups", "outbox", "responses",
        "signatures")}
    try:
        async with db.session_factory(engine)() as s:
            prog = await programs.create(s, template="ecomercado-15m", start=START,
                                         name="Ecomercado Solidario de Quilpué", now=created)
            await s.flush()
            bodies = {b.kind: b for b in (await s.scalars(
                select(Body).where(Body.program_id == prog.id))).all()}
            for kind in ("grupo_motor", "consejo_local"):
                if kind not in bodies:
                    bodies[kind] = Body(program_id=prog.id, kind=kind, name=kind,
                                        cadence_months=1 if kind == "grupo_motor" else 2,
                                        constituted_at=created)
                    s.add(bodies[kind])
            await s.flush()
            ficha = await s.scalar(select(FormDefinition.id).order_by(FormDefinition.id))
            first = (await s.scalar(select(func.max(Person.id)))) or 0
            ids = iter(range(first + 1, first + 10_000_000))

            def person(name: str, channel: str) -> int:
                pid = next(ids)
                rows["people"].append(dict(
                    id=pid, program_id=prog.id, name=name, created_at=created,
                    consent_at=created, consent_version="1", locale="es", reachable=True,
                    phone=f"+5699{pid:07d}"))
                rows["addresses"].append(dict(
                    person_id=pid, channel=channel,
                    address=f"+5699{pid:07d}" if channel == "whatsapp" else str(800_000 + pid),
                    created_at=created, last_inbound_message_id="1"))
                return pid

            gestora = person("Daniela Vergara", "telegram")
            rows["grants"].append(dict(person_id=gestora, program_id=prog.id, role="gestora",
                                       granted_at=created))
            reps: list[tuple[int, int]] = []  # (organisation, its representative)
            for o in range(organisations):
                oid = o + 1
                rep = person(f"Representante {o + 1}", "telegram" if o % 3 else "whatsapp")
                reps.append((oid, rep))
                committed = created + timedelta(days=20 + o) if o % 3 else None
                rows["orgs"].append(dict(
                    id=oid, program_id=prog.id, name=f"Organización comunitaria {o + 1}",
                    kind=ORG_KINDS[o % len(ORG_KINDS)], sector=SECTORS[o % len(SECTORS)],
                    address=f"Pasaje {o + 1} 123", phone=f"+5632{o:07d}",
                    members_count=10 + o % 40, committed_at=committed, created_at=created))
                rows["reps"].append(dict(organization_id=oid, person_id=rep,
                                         position="presidenta", is_primary=True))
                rows["invitations"].append(dict(
                    organization_id=oid, purpose="socializacion", sent_at=created,
                    answer="yes" if committed else None,
                    answered_at=committed))
                if ficha is not None and o % 4:
                    rid = len(rows["responses"]) + 1
                    rows["responses"].append(dict(
                        id=rid, form_id=ficha, person_id=rep, organization_id=oid,
                        program_id=prog.id, status="submitted", version=1,
                        answers={"nombre_organizacion": f"Organización comunitaria {o + 1}"},
                        started_at=created, updated_at=created, submitted_at=created))
                    rows["signatures"].append(dict(response_id=rid, person_id=rep,
                                                   signed_name=f"Representante {o + 1}",
                                                   signed_at=created))
            for n, (oid, rep) in enumerate(reps[:45]):
                body = bodies["grupo_motor"] if n < 15 else bodies["consejo_local"]
                rows["members"].append(dict(body_id=body.id, person_id=rep,
                                            organization_id=oid, joined_at=created,
                                            commitment_signed_at=created))
            fam_people = []
            for f in range(families):
                pid = person(f"Familia {f + 1}", "whatsapp" if f % 3 == 0 else "telegram")
                fam_people.append(pid)
                rows["families"].append(dict(
                    id=f + 1, program_id=prog.id, person_id=pid, name=f"Familia {f + 1}",
                    phone=f"+5699{pid:07d}", sector=SECTORS[f % len(SECTORS)],
                    address=f"Calle {f % 90} {f}", household_size=1 + f % 6,
                    created_at=created))
            gm = [r for _, r in reps[:15]]
            cl = [r for _, r in reps[15:45]]
            for m in range(meetings):
                mid = m + 1
                kind, invited = (("grupo_motor", gm) if m % 3 == 0 else
                                 ("consejo_local", cl) if m % 3 == 1 else
                                 ("socializacion", [r for _, r in reps]))
                at = created + timedelta(days=20 + m * 13, hours=rng.randint(13, 22))
                held = at < NOW
                rows["meetings"].append(dict(
                    id=mid, program_id=prog.id,
                    body_id=bodies[kind].id if kind in bodies else None, kind=kind,
                    title=f"Sesión {m + 1}", starts_at=at, ends_at=at + timedelta(hours=2),
                    place="Sede vecinal", status="held" if held else "scheduled", revision=1,
                    created_by=gestora, created_at=created))
                for pid in invited:
                    answer = rng.choice(["yes", "yes", "no", "maybe", None])
                    rows["rsvps"].append(dict(meeting_id=mid, person_id=pid, invited_at=at
                                              - timedelta(days=7), answer=answer,
                                              answered_at=at - timedelta(days=5)
                                              if answer else None))
                    rows["outbox"].append(_row(len(rows["outbox"]), pid, "invitation",
                                               at - timedelta(days=7), payload, rng))
                    if held:
                        rows["attendance"].append(dict(
                            meeting_id=mid, person_id=pid, present=answer == "yes",
                            method="marked", marked_at=at, marked_by=gestora))
            past_status = ["picked_up"] * 16 + ["no_show"] * 2 + ["proxy", "cannot"]
            for d in range(days):
                did = d + 1
                ws = datetime.combine(START + timedelta(days=60 + d * 14),
                                      datetime.min.time(), UTC) + timedelta(hours=14)
                rows["days"].append(dict(id=did, program_id=prog.id, window_start=ws,
                                         window_end=ws + timedelta(hours=4),
                                         place="Recinto municipal", created_at=created))
                past = ws < NOW
                for f in range(families):
                    status = (rng.choice(past_status) if past else
                              rng.choice(["pending", "notified", "confirmed"])
                              if ws < NOW + timedelta(days=30) else "pending")
                    rows["pickups"].append(dict(
                        delivery_day_id=did, family_id=f + 1, status=status,
                        notified_at=ws - timedelta(days=3) if status != "pending" else None,
                        handed_at=ws if status in ("picked_up", "proxy") else None,
                        marked_by=gestora if past else None))
                    if status != "pending":
                        rows["outbox"].append(_row(len(rows["outbox"]), fam_people[f],
                                                   "pickup_notice", ws - timedelta(days=3),
                                                   payload, rng))
            for b in range(broadcasts):
                when = created + timedelta(days=25 + b * 20)
                for pid in [r for _, r in reps] + fam_people:
                    rows["outbox"].append(_row(len(rows["outbox"]), pid, "broadcast", when,
                                               payload, rng, batch=f"bench-{b}"))
            for model, key in ((Person, "people"), (ChannelAddress, "addresses"),
                               (RoleGrant, "grants"), (Organization, "orgs"),
                               (Representative, "reps"),
                               (OrganizationInvitation, "invitations"),
                               (Membership, "members"), (Family, "families"),
                               (Meeting, "meetings"), (Rsvp, "rsvps"),
                               (Attendance, "attendance"), (DeliveryDay, "days"),
                               (Pickup, "pickups"), (OutboxMessage, "outbox"),
                               (FormResponse, "responses"), (FormSignature, "signatures")):
                for i in range(0, len(rows[key]), 2000):
                    await s.execute(insert(model), rows[key][i:i + 2000])
            await s.commit()
            if engine.dialect.name == "postgresql":
                from sqlalchemy import text

                # Explicit ids leave the sequences behind; the panel's own inserts (its
                # session, the audit) need them on.
                for table in ("people", "organizations", "families", "meetings",
                              "delivery_days", "form_responses"):
                    await s.execute(text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"(SELECT max(id) FROM {table}))"))
                await s.commit()
    finally:
        await engine.dispose()
    counts = {k: len(v) for k, v in rows.items()}
    return {"counts": counts, "program_id": prog.id, "gestora_id": gestora,
            "ids": {"family": 1, "organization": 1, "meeting": 1, "day": 1}}


def _row(n: int, person_id: int, kind: str, at: datetime, payload: dict[str, Any],
         rng: random.Random, batch: str | None = None) -> dict[str, Any]:
    """An outbox row as the dispatcher leaves it: mostly sent (delivered or read), a few
    failed with their reason, a few uncertain; what is still ahead, pending."""
    if at >= NOW:
        status, receipt = "pending", None
    else:
        r = rng.random()
        status = "failed" if r < 0.02 else "uncertain" if r < 0.025 else "sent"
        receipt = None if status != "sent" else rng.choice(["delivered", "read", "read"])
    return dict(idempotency_key=f"bench:{kind}:{n}", person_id=person_id, channel="telegram",
                address=str(800_000 + person_id), kind=kind, payload=payload, locale="es",
                urgent=False, status=status, not_before=at, attempts=1 if at < NOW else 0,
                last_error="Forbidden: bot was blocked by the user" if status == "failed"
                else None, batch=batch, created_at=at,
                sent_at=at if status == "sent" else None, receipt=receipt,
                receipt_at=at + timedelta(minutes=5) if receipt else None)


# --- the pages -----------------------------------------------------------------------------------


# A record page's id, guessed from its path's words: the seed made one of each.
RECORD_WORDS = (("famil", "family"), ("organiz", "organization"), ("reunion", "meeting"),
                ("entrega", "day"), ("dia", "day"))


# Routes that hand over a file rather than a page: documents have their own benchmarks.
DOWNLOAD = re.compile(r"descargar|archivo|\.\{fmt\}|\.(pdf|xlsx|csv)$")


def pages(program_id: int, ids: dict[str, int]) -> tuple[list[tuple[str, str]], list[str]]:
    """(label, path) of every page to time, and the GET routes that cannot be filled in."""
    from starlette.routing import Route

    from web.pages import ROUTES
    from web.sections import SECTIONS

    found: dict[str, str] = {}
    for section in sorted(SECTIONS.values(), key=lambda s: s.order):
        path = f"/web/p/{program_id}/" + ("" if section.key == "inicio" else f"{section.key}/")
        found[path] = section.key
    skipped = []
    for route in ROUTES:
        if not isinstance(route, Route) or "GET" not in (route.methods or ()):
            continue
        if DOWNLOAD.search(route.path):
            continue  # a document made on demand (a PDF of 500 families), not a page
        params = [p for p in route.param_convertors if p != "pid"]
        path = re.sub(r"\{pid(:[a-z]+)?\}", str(program_id), route.path)
        for name in params:
            kind = next((k for word, k in RECORD_WORDS if word in route.path), None)
            convertor = type(route.param_convertors[name]).__name__
            # A row's id: web.forms' bounded IdConvertor (Starlette's int, before it).
            if kind is None or convertor not in ("IdConvertor", "IntegerConvertor"):
                path = ""
                break
            path = re.sub(r"\{" + name + r"(:[a-z]+)?\}", str(ids[kind]), path)
        if not path:
            skipped.append(route.path)
            continue
        label = re.sub(r"^/p/\{pid(:[a-z]+)?\}/", "", route.path) or "inicio"
        found.setdefault("/web" + path, label)
    return [(label, path) for path, label in found.items()], skipped


async def measure_db(url: str, args: argparse.Namespace) -> dict[str, Any]:
    import httpx
    from sqlalchemy import event
    from sqlalchemy.orm import selectinload
    from starlette.applications import Starlette
    from starlette.routing import Mount

    from bot.app import build_app
    from bot.config import load_settings
    from services import web_access
    from storage.clock import ManualClock
    from storage.models import Person
    from web.app import build
    from web.context import Panel

    await migrate(url)
    t = time.monotonic()
    seeded = await seed(url, args.families, args.organisations, args.meetings, args.days,
                        args.broadcasts)
    print(f"  seeded in {time.monotonic() - t:.1f}s: {seeded['counts']}", flush=True)
    clock = ManualClock(NOW)
    app = await build_app(load_settings(database_url=url, _env_file=None, web_panel=False),
                          clock=clock, migrate=False)
    statements = [0]

    def counted(*_a: Any) -> None:
        statements[0] += 1

    # Statements per page: what the load of a shared machine does not change.
    event.listen(app.engine.sync_engine, "before_cursor_execute", counted)
    try:
        panel = Panel(app.sessions, clock, app.catalogs, "http://panel.test",
                      capabilities=app.services.capabilities,
                      default_locale=app.settings.default_locale)
        root = Starlette(routes=[Mount("/web", app=build(panel))])
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=root),
                                     base_url="http://panel.test") as client:
            async with app.sessions() as s:
                gestora = await s.get(Person, seeded["gestora_id"],
                                      options=[selectinload(Person.roles)])
                token = web_access.issue_login(s, gestora, clock.now())
                await s.commit()
            r = await client.post("/web/login", data={"token": token})
            assert r.status_code == 303, f"signing in failed: {r.status_code}"
            todo, skipped = pages(seeded["program_id"], seeded["ids"])
            status: dict[str, int] = {}
            size: dict[str, int] = {}
            sql: dict[str, int] = {}
            for _label, path in todo:  # warm-up: templates compiled, statements cached
                r = await client.get(path)
                status[path], size[path] = r.status_code, len(r.content)
            for _label, path in todo:
                statements[0] = 0
                await client.get(path)
                sql[path] = statements[0]
            timed = [(label, path) for label, path in todo if status[path] == 200]
            times: dict[str, list[float]] = {path: [] for _, path in timed}
            for run in range(args.runs):
                k = run % max(1, len(timed))
                for _label, path in timed[k:] + timed[:k]:
                    t0 = time.perf_counter()
                    r = await client.get(path)
                    took = (time.perf_counter() - t0) * 1000
                    assert r.status_code == 200, f"{path} answered {r.status_code}"
                    times[path].append(took)
                print(f"  run={run + 1} " + "  ".join(
                    f"{label} {times[path][-1]:.0f}" for label, path in timed) + " ms",
                    flush=True)
    finally:
        await app.close()
    out_pages = {}
    for label, path in todo:
        e: dict[str, Any] = {"label": label, "status": status[path], "bytes": size[path],
                             "statements": sql[path]}
        if path in times:
            e["ms"] = summary(times[path])
            e["met"] = e["ms"]["median"] <= TARGET_MS
        out_pages[path] = e
    return {"rows": seeded["counts"], "pages": out_pages, "not_timed": skipped,
            "missing": [path for _, path in todo if status[path] == 404]}


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {}
    dbs = [d for d in args.dbs.split(",") if d]
    with tempfile.TemporaryDirectory(prefix="convoca-bench-web-") as tmp:
        for d in dbs:
            print(f"{d}:", flush=True)
            if d == "sqlite":
                out[d] = await measure_db(sqlite_url(Path(tmp) / "web.sqlite3"), args)
            else:
                async with postgres_database("convoca_bench_web") as url:
                    out[d] = await measure_db(url, args)
    for d, res in out.items():
        rows = []
        for path, e in res["pages"].items():
            if "ms" in e:
                rows.append([e["label"], path, e["status"], f"{e['bytes']:,}", e["statements"],
                             med(e["ms"], 1),
                             f"≤ {TARGET_MS:.0f}", "yes" if e["met"] else "NO"])
            else:
                rows.append([e["label"], path, e["status"],
                             "missing (not built yet)" if e["status"] == 404 else "-", "-",
                             "-", "", ""])
        c = res["rows"]
        print_table(f"Panel pages, {d}: {c['families']} families, {c['orgs']} organisations, "
                    f"{c['pickups']:,} pickups, {c['outbox']:,} outbox rows — GET through "
                    f"ASGI, median (min–max) of {args.runs} runs, ms",
                    ["page", "path", "status", "bytes", "SQL statements", "ms", "target",
                     "met"], rows)
        if res["not_timed"]:
            print(f"not timed (path parameters the seed cannot fill): {res['not_timed']}")
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.web_pages", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=7)
    p.add_argument("--families", type=int, default=500)
    p.add_argument("--organisations", type=int, default=60)
    p.add_argument("--meetings", type=int, default=30)
    p.add_argument("--days", type=int, default=24, help="delivery days")
    p.add_argument("--broadcasts", type=int, default=8)
    p.add_argument("--dbs", default="sqlite,postgres" if os.environ.get(
        "CONVOCA_BENCH_POSTGRES_URL") else "sqlite")
    p.add_argument("--out", help="results folder (default bench/results)")
    args = p.parse_args(argv)
    data = asyncio.run(measure(args))
    data["settings"] = vars(args)
    write_results("web_pages", data, Path(args.out) if args.out else None)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    sys.exit(main())
