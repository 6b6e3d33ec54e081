"""Organizaciones / Familias: the catastro's two tables (search, filters, sort, pages), one
record's page with what happened to it, the spreadsheet import with its preview (the same
reading and checks as the chat's and `convoca import`'s: documents.imports, then
storage.imported.commit_import), and the printable QR cards (documents.qr_codes)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from starlette.datastructures import UploadFile
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from documents import imports
from documents.base import ExportFile
from domain import org_kinds
from domain.catastro import FAMILY, ORGANIZATION, ImportPreview, PickupMode, StalePreview
from domain.forms import display
from locales import Msg
from services.catastro import family_ids
from storage import catastro, held_imports, imported
from storage.links import LinkBuilder
from storage.meetings import body_name, meeting_kind_name
from storage.models import OutboxStatus, PickupStatus, Receipt
from web import render
from web.context import Page, Refusal, page
from web.downloads import attachment
from web.forms import form_id, small_int
from web.listing import Listing
from web.sections import PEOPLE

ORG_FILTERS = ("sector", "kind", "linked", "ficha", "channel")
FAMILY_FILTERS = ("sector", "mode", "linked", "channel")
NO_CHANNEL = "none"  # the channel filter's "on no chat"; the channels are the panel's
# The words for the values a template shows, as whole catalog keys (checked in both
# languages by tests/test_web_people.py).
LABELS: dict[str, dict[str, str]] = {
    "mode": {m.value: f"catastro.mode.{m.value}" for m in PickupMode},
    "channel": {NO_CHANNEL: f"web.people.channel.{NO_CHANNEL}"},
    "pickup": {s.value: f"web.people.pickup.{s.value}" for s in PickupStatus},
    "rsvp": {a: f"web.people.rsvp.{a}" for a in ("yes", "no", "maybe", "none")},
    "sent": {s: f"web.people.sent.{s}" for s in (
        *(o.value for o in OutboxStatus), *(r.value for r in Receipt))},
}


def _kind_label(kind: str | None) -> Msg | None:
    shown = org_kinds.shown(kind)
    return None if shown is None else render.said(shown)


def _yes_no(value: str | None) -> bool | None:
    return {"yes": True, "no": False}.get(value or "")


def _channels(p: Page) -> tuple[str, ...]:
    """The chat channels this installation runs (the wiring's): a new one gets its column
    badge and its filter choice without a change here."""
    return tuple(p.panel.capabilities)


def _channel_choices(p: Page) -> list[tuple[str, str]]:
    name = render.channel
    return [("", p.t("web.people.any")), *((c, name(c)) for c in _channels(p)),
            (NO_CHANNEL, p.t(LABELS["channel"][NO_CHANNEL]))]


def _filters(p: Page, listing: Listing) -> catastro.Filters:
    got = listing.params
    return catastro.Filters(
        q=listing.q, sector=got.get("sector"), kind=got.get("kind"), mode=got.get("mode"),
        linked=_yes_no(got.get("linked")), ficha=_yes_no(got.get("ficha")),
        channel=got.get("channel"), channels=_channels(p))


def _choices(p: Page, prefix: str, values: tuple[str, ...] | list[str]
             ) -> list[tuple[str, str]]:
    return [("", p.t("web.people.any"))] + [(v, p.t(f"{prefix}{v}")) for v in values]


def _yes_no_choices(p: Page, key: str) -> list[tuple[str, str]]:
    return [("", p.t("web.people.any")), ("yes", p.t(f"web.people.{key}.yes")),
            ("no", p.t(f"web.people.{key}.no"))]


@page(PEOPLE)
async def organizations(p: Page) -> Response:
    listing = Listing.read(p.link("organizaciones"), p.request.query_params,
                           sorts=catastro.ORGANIZATION_SORTS, default_sort="name",
                           filters=ORG_FILTERS)
    filters = _filters(p, listing)
    listing.settle(await catastro.count_organizations(p.db, p.program.id, filters))
    rows = await catastro.organizations(
        p.db, p.program.id, filters, sort=listing.sort, descending=listing.descending,
        offset=listing.offset, limit=listing.per_page)
    sectors = await catastro.sectors(p.db, p.program.id, "organization")
    return p.render(
        "people/organizations.html", listing=listing, rows=rows, tab="organizaciones",
        imported=_count(p, "importadas"), kind_label=_kind_label, labels=LABELS,
        sector_choices=[("", p.t("web.people.any"))] + [(s, s) for s in sectors],
        kind_choices=_choices(p, "org_kind.", org_kinds.KINDS),
        linked_choices=_yes_no_choices(p, "linked"),
        ficha_choices=_yes_no_choices(p, "ficha"),
        channel_choices=_channel_choices(p), channel_name=render.channel)


@page(PEOPLE)
async def families(p: Page) -> Response:
    listing = Listing.read(p.link("organizaciones", "familias"), p.request.query_params,
                           sorts=catastro.FAMILY_SORTS, default_sort="name",
                           filters=FAMILY_FILTERS)
    filters = _filters(p, listing)
    listing.settle(await catastro.count_families(p.db, p.program.id, filters))
    rows = await catastro.families(
        p.db, p.program.id, filters, sort=listing.sort, descending=listing.descending,
        offset=listing.offset, limit=listing.per_page)
    sectors = await catastro.sectors(p.db, p.program.id, "family")
    return p.render(
        "people/families.html", listing=listing, rows=rows, tab="familias",
        imported=_count(p, "importadas"), labels=LABELS,
        sector_choices=[("", p.t("web.people.any"))] + [(s, s) for s in sectors],
        mode_choices=_choices(p, "catastro.mode.", [m.value for m in PickupMode]),
        linked_choices=_yes_no_choices(p, "linked"),
        channel_choices=_channel_choices(p), channel_name=render.channel)


def _count(p: Page, name: str) -> int | None:
    return small_int(p.request.query_params.get(name))


# --- one record ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    label: str
    value: Msg


def _kind_of_message(p: Page, kind: str) -> str:
    key = f"outbox.kind.{kind}"
    return key if p.panel.catalogs.raw(p.loc, key) is not None else "outbox.kind.other"


def _meeting_name(p: Page, meeting: Any) -> str:
    return meeting.title or meeting_kind_name(p.program, meeting.kind, p.loc)


def _sent_status(message: Any) -> str:
    """The platform's last word when it gave one (delivered, read, failed), else ours."""
    return message.receipt or message.status


def _record_helpers(p: Page) -> dict[str, Any]:
    return {"labels": LABELS, "message_kind": lambda kind: _kind_of_message(p, kind),
            "meeting_name": lambda m: _meeting_name(p, m), "sent_status": _sent_status,
            "channel_name": render.channel}


@page(PEOPLE)
async def organization(p: Page) -> Response:
    record = await catastro.organization_record(p.db, p.program.id,
                                                p.request.path_params["rid"], p.now)
    if record is None:
        raise Refusal(404, "web.people.not_found")
    fichas = [(f, [Answer(q.label.get(p.loc) or q.label.get("es") or q.key,
                          display(q, f.response.answers.get(q.key), p.loc))
                   for q in f.form.questions if q.key in (f.response.answers or {})])
              for f in record.fichas]
    bodies = [(ms, body_name(p.program, b, p.loc), person) for ms, b, person in
              record.memberships]
    return p.render("people/organization.html", record=record, org=record.organization,
                    fichas=fichas, bodies=bodies, tab="organizaciones",
                    kind_label=_kind_label(record.organization.kind), **_record_helpers(p))


@page(PEOPLE)
async def family(p: Page) -> Response:
    record = await catastro.family_record(p.db, p.program.id, p.request.path_params["rid"],
                                          p.now)
    if record is None:
        raise Refusal(404, "web.people.not_found")
    return p.render("people/family.html", record=record, fam=record.family, tab="familias",
                    **_record_helpers(p))


# --- import ----------------------------------------------------------------------------------


def _import_page(p: Page, *, kind: str = FAMILY, preview: ImportPreview | None = None,
                 token: str | None = None, error: str | None = None, notice: str | None = None,
                 status: int = 200) -> Response:
    problems = [] if preview is None else [r for r in preview.rows if r.problems or r.notes]
    return p.render("people/import.html", status=status, tab="importar", kind=kind,
                    preview=preview, token=token, error=error, notice=notice,
                    problem_rows=problems,
                    summary=imports.summary(preview) if preview and not preview.file_problems
                    else None,
                    kind_choices=[(FAMILY, p.t("web.people.import.kind_family")),
                                  (ORGANIZATION, p.t("web.people.import.kind_organization"))])


@page(PEOPLE)
async def import_form(p: Page) -> Response:
    kind = p.request.query_params.get("kind", FAMILY)
    return _import_page(p, kind=kind if kind in (FAMILY, ORGANIZATION) else FAMILY)


@page(PEOPLE)
async def import_preview(p: Page) -> Response:
    """Read and check her file; the rows wait on the server (storage.held_imports) until
    she confirms: nothing is imported here."""
    form = p.form
    kind = str(form.get("kind", "")) if form else ""
    upload = form.get("file") if form else None
    if kind not in (FAMILY, ORGANIZATION):
        return _import_page(p, error=p.t("web.people.import.choose_kind"), status=422)
    if not isinstance(upload, UploadFile) or not upload.filename:
        return _import_page(p, kind=kind, error=p.t("web.people.import.choose_file"),
                            status=422)
    # One byte past the limit is enough to refuse it (documents.imports says so).
    content = await upload.read(imports.MAX_BYTES + 1)
    make = imports.preview_organizations if kind == ORGANIZATION else imports.preview_families
    preview = await make(p.db, p.program.id, upload.filename, content, p.now)
    if not preview.can_commit:
        await held_imports.drop(p.db, p.web_session.id)
        return _import_page(p, kind=kind, preview=preview, status=422)
    token = await held_imports.hold(p.db, p.web_session.id, preview, p.now)
    return _import_page(p, kind=kind, preview=preview, token=token)


@page(PEOPLE)
async def import_confirm(p: Page) -> Response:
    token = str(p.form.get("token", "")) if p.form else ""
    preview = await held_imports.held(p.db, p.web_session.id, token, p.now)
    if preview is None or preview.program_id != p.program.id:
        return _import_page(p, notice=p.t("web.people.import.gone"), status=409)
    try:
        result = await imported.commit_import(p.db, preview, p.now, actor_id=p.person.id,
                                              channel="web")
    except StalePreview as exc:
        # Records added since the preview clash with its rows: she uploads it again.
        p.audit("import_stale", entity="program", entity_id=p.program.id, rows=exc.rows)
        await held_imports.drop(p.db, p.web_session.id)
        return _import_page(p, kind=preview.kind, notice=p.t("web.people.import.stale"),
                            status=409)
    await held_imports.drop(p.db, p.web_session.id)
    rest = "" if preview.kind == ORGANIZATION else "familias"
    return p.redirect(p.link("organizaciones", rest) + "?"
                      + urlencode({"importadas": result.inserted}))


@page(PEOPLE)
async def import_discard(p: Page) -> Response:
    await held_imports.drop(p.db, p.web_session.id)
    return p.redirect(p.link("organizaciones", "importar"))


# --- link codes and the QR cards -------------------------------------------------------------


def _card_link(p: Page) -> LinkBuilder | None:
    """The link on a card, as the chat makes it (Services.link_to_hand): the channel most
    people have first where this installation speaks it, else any that links; None: the
    card carries the code alone, to be sent to the chat."""
    caps = p.panel.capabilities
    for name in (*p.panel.handed_links, *caps):
        c = caps.get(name)
        if c is not None and c.deep_link is not None:
            return LinkBuilder(name, c.deep_link, c.handle)
    return None


@page(PEOPLE)
async def cards(p: Page) -> Response:
    """The cards' PDF, as a download: one record's, or every family (of a sector) or every
    organisation. A POST: printing makes the codes the cards carry."""
    form = p.form or {}
    target = str(form.get("target", ""))
    rid = str(form.get("id", "")).strip()
    record = form_id(rid)
    # The families' table names its field apart from the filter's, so the ids differ.
    sector = str(form.get("cards-sector") or form.get("sector") or "").strip() or None
    if target == "family":
        ids = await family_ids(p.db, p.program.id, sector)
    elif target == "organization":
        ids = await catastro.organization_ids(p.db, p.program.id)
    else:
        raise Refusal(400, "web.people.not_found")
    if rid:
        if record is None or record not in ids:
            raise Refusal(404, "web.people.not_found")
        ids = [record]
    if not ids:
        raise Refusal(404, "web.people.cards.none")
    # Drawn on demand: the PDF and image libraries are not loaded until a card is printed.
    from documents import qr_codes

    pdf = await qr_codes.codes_pdf(p.db, p.program.id, target, ids, _card_link(p), p.loc,
                                   now=p.now, catalogs=p.panel.catalogs)
    p.audit("link_codes_pdf", entity=target, entity_id=record,
            count=len(ids), sector=sector)
    return attachment(ExportFile(p.t("codes.pdf.filename"), pdf, "application/pdf"))


BASE = "/p/{pid:id}/organizaciones"
routes: list[BaseRoute] = [
    Route(f"{BASE}/", organizations, methods=["GET"]),
    Route(f"{BASE}/familias", families, methods=["GET"]),
    Route(f"{BASE}/o/{{rid:id}}", organization, methods=["GET"]),
    Route(f"{BASE}/f/{{rid:id}}", family, methods=["GET"]),
    Route(f"{BASE}/importar", import_form, methods=["GET"]),
    Route(f"{BASE}/importar", import_preview, methods=["POST"]),
    Route(f"{BASE}/importar/confirmar", import_confirm, methods=["POST"]),
    Route(f"{BASE}/importar/descartar", import_discard, methods=["POST"]),
    Route(f"{BASE}/tarjetas", cards, methods=["POST"]),
]
