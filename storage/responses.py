"""Form responses as the database keeps them: every version of a definition a response was
made with (a new ``FormDefinition`` row whenever the YAML changes, so an old response is always
read with the questions it was answered against), drafts, sent versions, corrections and
signatures. What a form is and how an answer is read are in :mod:`domain.forms`. Nothing
here commits: the caller's unit of work does."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from domain import org_kinds
from domain.forms import FIELD_WIDTH, NUMBER_TYPES, Form, display, plain_value
from domain.program_templates import localized_text
from locales import Catalogs, Msg
from storage.db import insert_for
from storage.models import (
    FormDefinition,
    FormResponse,
    FormSignature,
    FormStatus,
    LinkCode,
    Organization,
    Representative,
)


def _dump(form: Form) -> dict[str, Any]:
    # Without defaults, so that reading it back sets only what the YAML set.
    return form.model_dump(mode="json", by_alias=True, exclude_defaults=True)


def form_of(row: FormDefinition, known: dict[int, Form] | None = None) -> Form:
    """The definition a row stores; ``known`` keeps those already read by row id (a row is
    never changed: an edited form becomes a new version)."""
    if known is not None and row.id in known:
        return known[row.id]
    form = Form.model_validate(row.definition)
    if known is not None:
        known[row.id] = form
    return form


async def ensure_definition(session: AsyncSession, form: Form, now: datetime) -> FormDefinition:
    """The stored row for this exact definition; a changed YAML becomes a new version so
    responses already made keep the questions they answered."""
    latest = await session.scalar(
        select(FormDefinition).where(FormDefinition.key == form.key)
        .order_by(FormDefinition.version.desc()).limit(1)
    )
    data = _dump(form)
    if latest is not None and _same(latest.definition, data):
        return latest
    version = (latest.version + 1) if latest else 1
    # Many people may open the first form at once: whoever stores this version first wins,
    # the others read it back (a plain insert would fail the others' whole update).
    insert = insert_for(session.bind.dialect.name)
    await session.execute(
        insert(FormDefinition)
        .values(key=form.key, version=version, definition=data, created_at=now)
        .on_conflict_do_nothing(index_elements=["key", "version"])
    )
    row = await session.scalar(
        select(FormDefinition).where(FormDefinition.key == form.key,
                                     FormDefinition.version == version)
    )
    assert row is not None
    if not _same(row.definition, data):  # someone stored a different edit of the YAML
        return await ensure_definition(session, form, now)
    return row


def _same(a: Any, b: Any) -> bool:
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


# --------------------------------------------------------------------------- records


def receipt_number(form: Form, response: FormResponse) -> str:
    return f"{form.receipt_prefix}-{response.id:05d}"


async def organizations_of(session: AsyncSession, person_id: int) -> list[Organization]:
    return list((await session.scalars(
        select(Organization).join(Representative)
        .where(Representative.person_id == person_id).order_by(Organization.id)
    )).all())


def _of_form(key: str) -> Any:
    return FormResponse.form_id.in_(select(FormDefinition.id).where(FormDefinition.key == key))


async def definitions(session: AsyncSession, form_ids: Iterable[int]) -> dict[int, Any]:
    """The stored definitions of these form versions, by row id."""
    wanted = set(form_ids)
    if not wanted:
        return {}
    return {d.id: d.definition for d in (await session.scalars(
        select(FormDefinition).where(FormDefinition.id.in_(wanted)))).all()}


async def draft_for(session: AsyncSession, person_id: int, form_key: str) -> FormResponse | None:
    return await session.scalar(
        select(FormResponse).where(
            _of_form(form_key), FormResponse.person_id == person_id,
            FormResponse.status == FormStatus.DRAFT,
        ).order_by(FormResponse.id.desc()).limit(1)
    )


async def submitted_for(session: AsyncSession, form_key: str, *, person_id: int,
                        organization_id: int | None) -> FormResponse | None:
    """The valid (submitted, not superseded) response of the organisation, or of the
    person when there is no organisation."""
    stmt = select(FormResponse).where(_of_form(form_key),
                                      FormResponse.status == FormStatus.SUBMITTED)
    if organization_id is not None:
        stmt = stmt.where(FormResponse.organization_id == organization_id)
    else:
        stmt = stmt.where(FormResponse.person_id == person_id,
                          FormResponse.organization_id.is_(None))
    return await session.scalar(stmt.order_by(FormResponse.id.desc()).limit(1))


async def submitted_by(session: AsyncSession, form_key: str, *, person_id: int,
                       answered: dict[str, Any] | None = None) -> FormResponse | None:
    """The person's own valid response, whatever organisation it names; with ``answered``,
    only one whose answers say so (a declaration is one per person and body)."""
    rows = (await session.scalars(
        select(FormResponse).where(_of_form(form_key),
                                   FormResponse.status == FormStatus.SUBMITTED,
                                   FormResponse.person_id == person_id)
        .order_by(FormResponse.id.desc()))).all()
    for r in rows:
        if all((r.answers or {}).get(k) == v for k, v in (answered or {}).items()):
            return r
    return None


async def start_response(session: AsyncSession, definition: FormDefinition, *,
                         person_id: int, organization_id: int | None, now: datetime,
                         supersedes: FormResponse | None = None,
                         program_id: int | None = None) -> FormResponse:
    answers: dict[str, Any] = {}
    version = 1
    if supersedes is not None:
        # A correction starts from what was sent; questions the new definition no longer
        # has are left behind.
        form = form_of(definition)
        answers = {k: v for k, v in supersedes.answers.items() if form.has(k)}
        version = supersedes.version + 1
        organization_id = supersedes.organization_id
        program_id = supersedes.program_id or program_id
    response = FormResponse(
        form_id=definition.id, person_id=person_id, organization_id=organization_id,
        program_id=program_id,
        status=FormStatus.DRAFT, version=version,
        supersedes_id=supersedes.id if supersedes else None, answers=answers, current=None,
        started_at=now, updated_at=now,
    )
    session.add(response)
    await session.flush()
    return response


def set_answer(response: FormResponse, key: str, value: Any, now: datetime) -> None:
    # A new dict, so SQLAlchemy sees the JSON column change.
    response.answers = {**(response.answers or {}), key: value}
    response.updated_at = now


async def submit(session: AsyncSession, response: FormResponse, form: Form, *,
                 person_id: int, signed_name: str | None, now: datetime,
                 signed_rut: str | None = None) -> FormSignature | None:
    """Seal a draft with its first signature (forms without a declaration take none); a
    correction supersedes the version it corrects only now, so the organisation always
    has one valid form."""
    response.answers = form.pruned(response.answers or {})
    if response.organization_id is not None:
        await update_organization(session, response.organization_id, form, response.answers)
    response.status = FormStatus.SUBMITTED
    response.submitted_at = now
    response.updated_at = now
    response.current = None
    if response.supersedes_id is not None:
        old = await session.get(FormResponse, response.supersedes_id)
        # Someone else's correction may have been sealed meanwhile: this one replaces that,
        # so the versions stay one line and only the newest is valid.
        latest = await current_version(session, old) if old is not None else None
        if latest is not None and latest.id != response.id:
            response.supersedes_id = latest.id
            response.version = latest.version + 1
            latest.status = FormStatus.SUPERSEDED
            latest.updated_at = now
    if signed_name is None:
        await session.flush()
        return None
    return await sign(session, response, person_id=person_id, signed_name=signed_name, now=now,
                      signed_rut=signed_rut)


async def update_organization(session: AsyncSession, organization_id: int, form: Form,
                               answers: Mapping[str, Any]) -> None:
    """What the organisation declared in its form becomes what the catastro shows, written
    as the catastro's own columns are (a kind as its code, a RUT formatted)."""
    org = await session.get(Organization, organization_id)
    if org is None:
        return
    for q in form.questions:
        value = answers.get(q.key)
        if q.updates is None or value in (None, ""):
            continue
        if q.updates == "kind":
            # The catastro keeps a kind from its closed list, shown in words where read.
            value = org_kinds.kind_code(value) or org_kinds.OTHER
        elif q.type in ("choice", *NUMBER_TYPES):
            value = plain_value(q, value, "es")  # a RUT as the catastro writes it: 65.123.456-5
        elif q.updates == "members_count":
            value = int(value)
        if isinstance(value, str):
            value = value[:FIELD_WIDTH[q.updates]]
        setattr(org, q.updates, value)


async def sign(session: AsyncSession, response: FormResponse, *, person_id: int | None,
               signed_name: str, now: datetime, signed_rut: str | None = None) -> FormSignature:
    """A signature: the typed full name and, where given, the signer's RUT (formatted)."""
    signature = FormSignature(response_id=response.id, person_id=person_id,
                              signed_name=signed_name, signed_rut=signed_rut, signed_at=now)
    session.add(signature)
    await session.flush()
    return signature


async def signatures(session: AsyncSession, response_id: int) -> list[FormSignature]:
    return list((await session.scalars(
        select(FormSignature).where(FormSignature.response_id == response_id)
        .order_by(FormSignature.signed_at, FormSignature.id)
    )).all())


async def has_signed(session: AsyncSession, response_id: int, person_id: int) -> bool:
    return bool(await session.scalar(
        select(func.count()).select_from(FormSignature).where(
            FormSignature.response_id == response_id, FormSignature.person_id == person_id)
    ))


async def current_version(session: AsyncSession, response: FormResponse) -> FormResponse | None:
    """The submitted version that replaced ``response`` (or itself); None for a draft."""
    seen = set()
    while response.status == FormStatus.SUPERSEDED and response.id not in seen:
        seen.add(response.id)
        newer = await session.scalar(
            select(FormResponse).where(
                FormResponse.supersedes_id == response.id,
                FormResponse.status.in_([FormStatus.SUBMITTED, FormStatus.SUPERSEDED]),
            ).order_by(FormResponse.id.desc()).limit(1)
        )
        if newer is None:
            return None
        response = newer
    return response if response.status == FormStatus.SUBMITTED else None


async def cosign_code(session: AsyncSession, response: FormResponse, program_id: int,
                      now: datetime) -> str:
    """The deep-link code a second representative opens to co-sign this version."""
    from storage import links

    existing = await session.scalar(
        select(LinkCode.code).where(LinkCode.target_kind == "form_response",
                                    LinkCode.target_id == response.id)
        .order_by(LinkCode.id).limit(1)
    )
    if existing:
        return existing
    return (await links.create(session, program_id, "form_response", response.id, now)).code


# --------------------------------------------------------------------------- export


async def answers_for_export(session: AsyncSession, response_id: int, locale: str = "es",
                             catalogs: Catalogs | None = None) -> list[tuple[str, str, str]]:
    """(question key, question label, answer) for every question that applies, in the
    form's order and in ``locale``; for printing and spreadsheets."""
    response = await session.get(FormResponse, response_id)
    if response is None:
        raise KeyError(f"no form response {response_id}")
    definition = await session.get(FormDefinition, response.form_id)
    assert definition is not None
    form = form_of(definition)
    catalogs = catalogs or Catalogs()
    answers = response.answers or {}
    rows = []
    for q in form.applicable(answers):
        shown = display(q, answers.get(q.key), locale) if q.key in answers \
            else Msg("form.skipped")
        rows.append((q.key, localized_text(q.label, locale), catalogs.render(shown, locale)))
    return rows
