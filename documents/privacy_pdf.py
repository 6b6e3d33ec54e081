"""/mis_datos as a person can read it: a PDF of what Convoca holds about them, in words and
in their language, drawn with the verificadores' typography (documents/exports.py). The JSON
stays the complete, machine-readable copy; this says what it holds."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from documents.exports import (
    FONT_DIRS,
    MIME,
    Ctx,
    ExportFile,
    _kind_name,
    _new_pdf,
    _place,
)
from domain.forms import load_form
from domain.program_templates import program_template_or_none
from locales import Catalogs
from storage import programs, responses
from storage.models import PickupStatus, Role

FILENAME = {"es": "mis_datos.pdf", "en": "my_data.pdf"}
ROLE_KEYS = {r: f"privacy.role_{r}" for r in Role}


def _at(value: Any) -> datetime | None:
    at = value if isinstance(value, datetime) else (
        datetime.fromisoformat(value) if value else None)
    return at.replace(tzinfo=UTC) if at is not None and at.tzinfo is None else at


def _form_title(definition: dict[str, Any] | None, key: str | None, locale: str) -> str:
    title = (definition or {}).get("title")
    if isinstance(title, dict) and (title.get(locale) or title.get("es")):
        return title.get(locale) or title["es"]
    try:
        shipped = load_form(key or "")
        return shipped.title.get(locale) or shipped.title["es"]
    except Exception:  # a form no longer shipped: its key is all there is
        return (key or "").replace("_", " ").capitalize()


async def personal_data_pdf(
    session: AsyncSession, data: dict[str, Any], *, now: datetime, locale: str | None,
    timezone: str, catalogs: Catalogs | None = None, font_dirs: Sequence[Path] = FONT_DIRS,
) -> ExportFile:
    """``data`` is what privacy.export_person returned for the person; its times are shown
    in ``timezone``, the zone of the programme the person belongs to or works on."""
    person = data["person"]
    program_ids = {g.get("program_id") for g in data["role_grants"]} | {
        person.get("program_id")} | {f.get("program_id") for f in data["families"]}
    by_id = await programs.by_id(session, program_ids)
    own = by_id.get(person.get("program_id"))
    ctx = Ctx(catalogs, locale, timezone, now)
    t = ctx.t

    pdf = _new_pdf(ctx, font_dirs, title=t("privacy.pdf.title"))
    pdf.add_page()
    details = [(t("privacy.pdf.name"), person.get("name") or t("privacy.none_name"))]
    for key, label in (("phone", "privacy.pdf.phone"), ("email", "privacy.pdf.email"),
                       ("rut", "privacy.pdf.rut")):
        if person.get(key):
            details.append((t(label), person[key]))
    details.append((t("privacy.pdf.language"),
                    t(f"lang.name_{person['locale']}") if person.get("locale") in ("es", "en")
                    else t("privacy.none_language")))
    consent = _at(person.get("consent_at"))
    details.append((t("privacy.pdf.consent"),
                    ctx.long_date(consent) if consent else t("privacy.consent_none")))
    stopped = _at(person.get("opted_out_at"))
    details.append((t("privacy.pdf.notices"),
                    t("privacy.pdf.notices_paused", date=ctx.long_date(stopped)) if stopped
                    else t("privacy.pdf.notices_on")))
    pdf.heading(own.name if own else "Convoca", t("privacy.pdf.title"), details)
    pdf.para(t("privacy.pdf.intro"), 9.5)

    def bullets(title: str, items: list[str]) -> None:
        if not items:
            return
        pdf.section(title)
        for item in items:
            pdf.para(f"• {item}", 9.5)

    roles = []
    for g in sorted(data["role_grants"], key=lambda g: (g["role"], g.get("program_id") or 0)):
        name = t(ROLE_KEYS[g["role"]]) if g["role"] in ROLE_KEYS else g["role"]
        where = by_id.get(g.get("program_id"))
        roles.append(t("privacy.pdf.role_in", role=name, program=where.name) if where
                     else name)
    bullets(t("privacy.pdf.roles"), list(dict.fromkeys(roles)))
    bullets(t("privacy.pdf.organizations"), list(dict.fromkeys(
        r["organization_name"] for r in data["representatives"] if r.get("organization_name"))))
    bullets(t("privacy.pdf.bodies"), list(dict.fromkeys(
        r["body_name"] for r in data["memberships"] if r.get("body_name"))))

    for family in data["families"]:
        pdf.section(t("privacy.pdf.family", name=family["name"]))
        for key, label in (("address", "privacy.pdf.address"), ("sector", "privacy.pdf.sector"),
                           ("household_size", "privacy.pdf.household"),
                           ("phone", "privacy.pdf.phone"), ("rut", "privacy.pdf.rut")):
            if family.get(key):
                pdf.para(f"{t(label)}: {family[key]}", 9.5)
        if family.get("pickup_mode"):
            pdf.para(f"{t('privacy.pdf.mode')}: {t('exports.mode.' + family['pickup_mode'])}",
                     9.5)

    if data["pickups"]:
        pdf.section(t("privacy.pdf.pickups"))
        rows = []
        for p in data["pickups"]:
            day = p["delivery_day"]
            start, end = _at(day["window_start"]), _at(day["window_end"])
            status = p["status"]
            text = t(f"exports.pickup.{status}") if status in set(PickupStatus) else status
            if status == PickupStatus.PROXY and p.get("proxy_name"):
                text = t("exports.pickup.proxy_named", name=p["proxy_name"],
                         rut=p.get("proxy_rut") or t("exports.pickup.rut_to_check"))
            if day.get("cancelled_at"):
                text = t("exports.delivery.cancelled")
            rows.append([f"{ctx.long_date(start)}, {ctx.time_range(start, end)}",
                         _place(day.get("place"), day.get("address")), text])
        pdf.grid([t("exports.label.date"), t("exports.label.place"), t("exports.label.status")],
                 rows, [70, 60, 56])

    meetings: dict[int, dict[str, Any]] = {}
    for r in data["rsvps"]:
        meetings.setdefault(r["meeting_id"], {"meeting": r.get("meeting")})["answer"] = r
    for a in data["attendance"]:
        meetings.setdefault(a["meeting_id"], {"meeting": a.get("meeting")})["present"] = a
    if meetings:
        pdf.section(t("privacy.pdf.meetings"))
        tpl = program_template_or_none(own) if own else None
        rows = []
        for entry in sorted(meetings.values(),
                            key=lambda e: (e["meeting"] or {}).get("starts_at") or ""):
            m = entry["meeting"] or {}
            what = m.get("title") or _kind_name(tpl, m.get("kind") or "", ctx.locale)
            answer = (entry.get("answer") or {}).get("answer")
            rows.append([
                what, ctx.long_date(_at(m["starts_at"])) if m.get("starts_at") else "",
                t(f"exports.rsvp.{answer}") if answer in ("yes", "no", "maybe")
                else t("exports.rsvp.none"),
                _attendance(entry, t),
            ])
        pdf.grid([t("privacy.pdf.meeting"), t("exports.label.date"),
                  t("privacy.pdf.your_answer"), t("privacy.pdf.attendance")],
                 rows, [62, 56, 34, 34])

    if data["form_responses"]:
        pdf.section(t("privacy.pdf.forms"))
        definitions = await responses.definitions(
            session, {r["form_id"] for r in data["form_responses"]})
        rows = []
        for r in data["form_responses"]:
            sent = _at(r.get("submitted_at"))
            rows.append([_form_title(definitions.get(r["form_id"]), r.get("form_key"),
                                     ctx.locale),
                         r.get("organization_name") or "",
                         ctx.long_date(sent) if sent else t("privacy.pdf.form_draft")])
        pdf.grid([t("privacy.pdf.form"), t("privacy.pdf.organization"), t("privacy.pdf.sent")],
                 rows, [70, 66, 50])

    pdf.section(t("privacy.pdf.more"))
    pdf.para(" ".join((t("privacy.pdf.messages", count=len(data["messages"])),
                       t("privacy.pdf.entries", count=len(data["audit_entries"])),
                       t("privacy.pdf.more_detail"))), 9.5)
    pdf.ln(2)
    pdf.para(t("privacy.pdf.erase"), 9.5)
    return ExportFile(FILENAME.get(ctx.locale, FILENAME["es"]), bytes(pdf.output()), MIME["pdf"])


def _attendance(entry: dict[str, Any], t: Any) -> str:
    """As the official list says it: a check-in without an invitation waits for the
    gestora's confirmation (storage.admin_meetings.confirm_walk_in)."""
    mark = entry.get("present")
    if mark is None:
        return ""
    if mark["present"] and mark.get("method") == "checkin" and entry.get("answer") is None:
        return t("exports.attendance.to_confirm")
    return t("exports.attendance.present" if mark["present"] else "exports.attendance.absent")

