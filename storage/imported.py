"""The rows of an imported spreadsheet written to the catastro, all or nothing, and the records
already there that they must not repeat. The spreadsheet is read in documents.imports. Never
commits: the caller's unit of work does."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from domain.catastro import (
    KINDS,
    ORGANIZATION,
    ImportPreview,
    ImportResult,
    PickupMode,
    StalePreview,
    record_keys,
)
from storage import people
from storage.models import Family, Organization


async def existing_keys(session: AsyncSession, kind: str, program_id: int
                        ) -> dict[tuple[str, str], str]:
    """Each duplicate key of the programme's records, with the record's name."""
    known: dict[tuple[str, str], str] = {}
    if kind == ORGANIZATION:
        rows = await session.execute(
            select(Organization.name, Organization.rut, Organization.phone,
                   Organization.address).where(Organization.program_id == program_id)
        )
    else:
        rows = await session.execute(
            select(Family.name, Family.rut, Family.phone, Family.address).where(
                Family.program_id == program_id
            )
        )
    for name, rut, phone, address in rows:
        values = {"name": name, "rut": rut, "phone": phone, "address": address}
        for key in record_keys(kind, values):
            known.setdefault(key, name)
    return known


async def commit_import(
    session: AsyncSession,
    preview: ImportPreview,
    now: datetime,
    *,
    actor_id: int | None = None,
    channel: str | None = None,
) -> ImportResult:
    """Insert every valid row of the preview, or nothing: raises ``StalePreview`` before
    inserting when records added since the preview clash with its rows (including a second
    press of the same 'import' button). The caller's transaction makes it all-or-nothing."""
    if preview.kind not in KINDS:
        raise ValueError(f"unknown import kind {preview.kind!r}")
    valid = preview.valid_rows
    existing = await existing_keys(session, preview.kind, preview.program_id)
    stale = [r.row for r in valid
             if any(k in existing for k in record_keys(preview.kind, r.values))]
    if stale:
        raise StalePreview(stale)
    records = [_record(preview.kind, preview.program_id, r.values, now) for r in valid]
    session.add_all(records)
    await session.flush()
    ids = [r.id for r in records]
    people.audit(
        session, now, f"import.{preview.kind}", actor_id=actor_id, channel=channel,
        entity="program", entity_id=preview.program_id, filename=preview.filename,
        rows=len(preview.rows), inserted=len(ids), skipped=len(preview.rows) - len(valid),
        ids=ids,
    )
    await session.flush()
    return ImportResult(
        kind=preview.kind, inserted_ids=ids, inserted_rows=[r.row for r in valid],
        skipped_rows=[r.row for r in preview.rows if not r.ok],
    )


def _record(kind: str, program_id: int, v: dict[str, Any], now: datetime) -> Any:
    if kind == ORGANIZATION:
        return Organization(
            program_id=program_id, name=v["name"], kind=v.get("kind"), rut=v.get("rut"),
            sector=v.get("sector"), address=v.get("address"), phone=v.get("phone"),
            email=v.get("email"), members_count=v.get("members_count"), created_at=now,
        )
    return Family(
        program_id=program_id, name=v["name"], phone=v.get("phone"), rut=v.get("rut"),
        pickup_mode=v.get("pickup_mode") or PickupMode.RETIRO, sector=v.get("sector"),
        address=v.get("address"), household_size=v.get("household_size"), created_at=now,
    )
