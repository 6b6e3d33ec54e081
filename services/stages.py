"""What an activity of the stage timeline holds and still lacks, in words, and the two
changes the team makes to it (mark done or not, move its date): shared by the chat's
`/etapas`, the panel's Etapas and `convoca timeline`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from domain.program_templates import localized_text
from locales import SUPPORTED, Msg, Text
from storage import stages
from storage.models import Milestone
from storage.stages import MISSING, READY, MilestoneStatus, VerifierStatus

BUTTON_NAME_MAX = 38  # of an activity's name in a chat button


def _joined(names: list[dict[str, str]]) -> Text:
    return Text({loc: ", ".join(localized_text(n, loc) for n in names) for loc in SUPPORTED})


def sessions_line(m: MilestoneStatus) -> Msg:
    key = "adm_stages.sessions_ok" if m.sessions_missing == 0 else "adm_stages.sessions_lacking"
    return Msg(key, {"held": m.sessions_held, "count": m.min_sessions})


def lacks(m: MilestoneStatus, *, sessions: bool = True) -> list[Msg]:
    """What a begun, unfinished activity still lacks: sessions under the minimum, records
    missing (also what ``convoca timeline`` prints)."""
    if not m.started or m.done:
        return []
    out = [sessions_line(m)] if sessions and m.sessions_missing else []
    missing = m.in_state(MISSING)
    if missing:
        out.append(Msg("adm_stages.missing", {"names": _joined([v.name for v in missing])}))
    return out


def evidence(m: MilestoneStatus) -> list[Msg]:
    """What Convoca holds for a begun activity's verifiers ("3 fichas recibidas"), so the
    gestora sees what counts already (also what ``convoca timeline`` prints)."""
    if not m.started:
        return []
    return [Msg("adm_stages.verifier_ready_found", {"name": Text(v.name), "found": v.found})
            for v in m.in_state(READY) if v.found is not None]


def state(m: MilestoneStatus) -> Msg:
    """Done, overdue, under way or still ahead, in words."""
    if m.done:
        return Msg("adm_stages.state_done")
    if m.overdue:
        return Msg("adm_stages.state_overdue")
    if m.current:
        return Msg("adm_stages.state_current")
    return Msg("adm_stages.state_upcoming")


def _short(name: dict[str, str]) -> Text:
    def cut(text: str) -> str:
        return text if len(text) <= BUTTON_NAME_MAX else text[:BUTTON_NAME_MAX - 1].rstrip() + "…"

    return Text({loc: cut(localized_text(name, loc)) for loc in SUPPORTED})


def _named(name: Text, kind: str, key: str) -> Text | Msg:
    # Progress reports all share one name: their month tells them apart.
    tail = key.rsplit(".", 1)[-1]
    if kind != "progress_report" or not tail.isdigit():
        return name
    return Msg("adm_stages.report_name", {"name": name, "month": int(tail)})


def name(m: MilestoneStatus | Milestone, *, short: bool = False) -> Text | Msg:
    """The activity's name (cut to fit a button when ``short``)."""
    return _named(_short(m.name) if short else Text(dict(m.name)), m.kind, m.key)


def verifier_line(v: VerifierStatus) -> Msg:
    """One verifier: ready, missing or for the gestora to confirm, with what Convoca holds."""
    if v.found is not None:
        return Msg(f"adm_stages.verifier_{v.state}_found", {"name": Text(v.name),
                                                              "found": v.found})
    return Msg(f"adm_stages.verifier_{v.state}", {"name": Text(v.name)})


# --- changes ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    """What a change did to a milestone: ``action`` is the audit's name for it, None when
    nothing changed (marked done twice, moved to the date it had)."""

    milestone: Milestone
    action: str | None
    details: dict[str, Any] = field(default_factory=dict)


async def set_done(session: AsyncSession, program_id: int, milestone_id: int, *, done: bool,
                   now: datetime) -> Change | None:
    """Mark the programme's milestone done (now) or pending again; None when it is not one
    of the programme's."""
    m = await stages.milestone_of(session, program_id, milestone_id)
    if m is None:
        return None
    if not stages.set_done(m, now if done else None):
        return Change(m, None)
    await session.flush()
    return Change(m, "milestone_done" if done else "milestone_undone", {"key": m.key})


async def move(session: AsyncSession, program_id: int, milestone_id: int, new_due: date
               ) -> Change | None:
    """Move the programme's milestone's deadline (the template's date stays as planned);
    None when it is not one of the programme's. Raises ``stages.StageError`` for a date
    before the activity begins."""
    m = await stages.milestone_of(session, program_id, milestone_id)
    if m is None:
        return None
    before = stages.move(m, new_due)
    if before == m.due:
        return Change(m, None)
    await session.flush()
    return Change(m, "milestone_moved", {
        "key": m.key, "before": before.isoformat(), "due": m.due.isoformat(),
        "planned_due": m.planned_due.isoformat()})
