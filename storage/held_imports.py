"""An import's preview waiting for the gestora's confirmation in the web panel, kept on the
server (app_state) under her browser session: the rows she confirms are the rows that were
checked, not whatever a browser sends back, and a file of thousands of rows does not travel
twice. One per browser session: a new upload replaces it, confirming or discarding removes
it, one older than a day is not offered, and those of ended sessions go when a session is
closed, a person erased, or the next upload. Never commits."""

from __future__ import annotations

import json
import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from domain.catastro import ImportPreview
from storage.models import AppState, WebSession

KEPT = timedelta(days=1)


def _key(web_session_id: int) -> str:
    return f"web.import.{web_session_id}"


async def hold(session: AsyncSession, web_session_id: int, preview: ImportPreview,
               now: datetime) -> str:
    """Keep the preview; the token names this one preview, so a confirm from an older tab
    is not taken for it. Previews left by browser sessions that have ended go now."""
    await drop_ended(session, now)
    token = secrets.token_urlsafe(16)
    value = json.dumps({"token": token, "preview": preview.to_json()}, ensure_ascii=False)
    await session.merge(AppState(key=_key(web_session_id), value=value))
    return token


async def held(session: AsyncSession, web_session_id: int, token: str, now: datetime
               ) -> ImportPreview | None:
    row = await session.get(AppState, _key(web_session_id))
    if row is None:
        return None
    kept = json.loads(row.value)
    if kept.get("token") != token:
        return None
    preview = ImportPreview.from_json(kept["preview"])
    return preview if now - preview.created_at <= KEPT else None


async def drop_ended(session: AsyncSession, now: datetime) -> None:
    """The previews of browser sessions that ended: they hold families' names, RUTs and
    phones, and nobody can confirm them any more."""
    keys = (await session.scalars(select(AppState.key).where(
        AppState.key.like(_key(0)[:-1] + "%")))).all()
    ids = {int(k.rsplit(".", 1)[1]) for k in keys if k.rsplit(".", 1)[1].isdigit()}
    if not ids:
        return
    open_ = set((await session.scalars(select(WebSession.id).where(
        WebSession.id.in_(ids), WebSession.closed_at.is_(None),
        WebSession.expires_at > now))).all())
    ended = [_key(i) for i in ids - open_]
    if ended:
        await session.execute(delete(AppState).where(AppState.key.in_(ended))
                              .execution_options(synchronize_session=False))


async def drop(session: AsyncSession, web_session_id: int) -> None:
    await session.execute(delete(AppState).where(AppState.key == _key(web_session_id))
                          .execution_options(synchronize_session=False))
