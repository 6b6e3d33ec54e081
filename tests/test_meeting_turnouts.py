"""admin_meetings.turnouts counts in the database what each meeting's board tallies: the
stage timeline reads it for every session, the board for one."""

from __future__ import annotations

from datetime import timedelta

from storage import admin_meetings
from storage.models import (
    Attendance,
    AttendanceGuest,
    Meeting,
    MeetingStatus,
    Person,
    Program,
    Rsvp,
)


async def test_turnouts_agree_with_the_boards(web) -> None:
    now = web.app.clock.now()
    async with web.app.sessions() as s:
        program = await s.get(Program, web.program.id)
        kind = admin_meetings.meeting_kinds(program)[0]
        people = [Person(program_id=program.id, name=f"Vecina {i}", created_at=now)
                  for i in range(4)]
        s.add_all(people)
        meetings = [Meeting(program_id=program.id, kind=kind, revision=1, created_at=now,
                            status=MeetingStatus.SCHEDULED,
                            starts_at=now - timedelta(days=10 - i)) for i in range(5)]
        s.add_all(meetings)
        await s.flush()
        a, b, c, d = people
        m_all, m_unconfirmed, m_none, m_absent, m_guest = meetings

        def mark(m: Meeting, p: Person, present: bool, method: str = "marked") -> Attendance:
            return Attendance(meeting_id=m.id, person_id=p.id, present=present,
                              method=method, marked_at=now)

        s.add_all([Rsvp(meeting_id=m.id, person_id=p.id, invited_at=now)
                   for m in meetings for p in (a, b)])
        s.add_all([
            mark(m_all, a, True, "checkin"),  # invited: counts however marked
            mark(m_all, b, False),
            mark(m_all, c, True, "checkin"),  # uninvited, self checked-in: waits
            mark(m_all, d, True),  # uninvited, marked by the staff: counts
            mark(m_unconfirmed, c, True, "checkin"),
            mark(m_absent, b, False),
            AttendanceGuest(meeting_id=m_all.id, name="Don Luis", added_at=now),
            AttendanceGuest(meeting_id=m_guest.id, name="Doña Marta", added_at=now),
        ])
        await s.flush()
        boards = await admin_meetings.boards(s, meetings)
        turnouts = await admin_meetings.turnouts(s, [m.id for m in meetings])
        for m in meetings:
            board = boards[m.id]
            taken = any(e.present is not None for e in board.everyone)
            assert turnouts[m.id] == admin_meetings.Turnout(board.tally.present, taken), m.id
        assert turnouts[m_all.id].present == 3
        assert turnouts[m_unconfirmed.id] == admin_meetings.Turnout(0, True)
        assert turnouts[m_none.id] == admin_meetings.Turnout(0, False)
