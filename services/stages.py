"""What an activity of the stage timeline holds and still lacks, in words: shared by the
chat's `/etapas` and `convoca timeline`."""

from __future__ import annotations

from domain.program_templates import localized_text
from locales import SUPPORTED, Msg, Text
from storage.stages import MISSING, READY, MilestoneStatus


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
