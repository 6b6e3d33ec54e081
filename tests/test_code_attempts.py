"""Codes cannot be guessed by trying many: after too many wrong ones a chat waits (and a
right code waits too), after too many from everyone at once everyone does; counted in the
database, through the real aiogram runtime against the fake Bot API."""

from __future__ import annotations

import logging
from datetime import timedelta
from functools import partial

import cli_harness
import pytest
from sqlalchemy import func, select
from test_meetings_flow import CODE, STARTS, invite, seed
from test_registration_telegram import seed_family_and_org

from bot import cli_outreach
from bot.commands import CommandError
from storage import attempts, links, programs
from storage.models import AuditEntry, CodeAttempt, Meeting, Organization
from telegram_harness import Running

ANA, BETO = 7101, 7102
WAIT = "Has probado varios códigos que no existen"


parse = partial(cli_harness.parse, cli_outreach)


def wrong_codes(right: str, n: int) -> list[str]:
    out: list[str] = []
    while len(out) < n:
        code = links.new_code()
        if code != right and code not in out:
            out.append(code)
    return out


async def lockouts(r: Running) -> list[AuditEntry]:
    async with r.app.sessions() as s:
        return [a for a in await s.scalars(select(AuditEntry).order_by(AuditEntry.id))
                if a.action == "code_lockout"]


async def test_forty_wrong_start_codes_make_the_chat_wait_even_with_the_right_code(
        tg: Running) -> None:
    right = await seed_family_and_org(tg)
    await tg.send(ANA, "/start")
    await tg.press(ANA, "✅ Sí, acepto", count=2)
    guesses = wrong_codes(right, 40)
    for code in guesses[:attempts.PERSON_LIMIT - 1]:
        reply, _ask = await tg.send(ANA, f"/start {code}", count=2)
        assert reply["text"].startswith(f"No existe ninguna invitación con el código {code}")
    # The fifth is the last one looked up: from then on the chat is told to wait.
    [fifth] = await tg.send(ANA, f"/start {guesses[attempts.PERSON_LIMIT - 1]}")
    assert fifth["text"].startswith(WAIT) and "esperar 15 minutos" in fifth["text"]
    tg.app.clock.advance(minutes=5)
    for code in guesses[attempts.PERSON_LIMIT:]:
        [reply] = await tg.send(ANA, f"/start {code}")
        assert reply["text"].startswith(WAIT) and "esperar 10 minutos" in reply["text"]
    [typed] = await tg.send(ANA, right)  # typed on its own, or with /start: not looked up
    assert typed["text"].startswith(WAIT)
    [refused] = await tg.send(ANA, f"/start {right}")
    assert refused["text"].startswith(WAIT)
    async with tg.app.sessions() as s:
        assert await s.scalar(select(func.count(CodeAttempt.id))) == attempts.PERSON_LIMIT
    [lock] = await lockouts(tg)
    assert lock.details["scope"] == "person"

    tg.app.clock.advance(minutes=10)
    [done] = await tg.send(ANA, f"/start {right}")
    assert "Junta de Vecinos Villa Ñuñoa" in done["text"]
    async with tg.app.sessions() as s:
        assert await s.scalar(select(func.count(CodeAttempt.id))) == 0  # forgiven


async def test_sending_asistencia_again_does_not_reset_the_count_of_wrong_codes(
        tg: Running) -> None:
    ids = await seed(tg, {ANA: "es"})
    await invite(tg, ids["meeting"], [ids[str(ANA)]])
    tg.app.clock.set(STARTS - timedelta(minutes=30))
    guesses = ["WXY" + f"{n:03d}".translate(str.maketrans("0123456789", "ACEFHJKMNP"))
               for n in range(40)]
    texts = []
    for code in guesses:
        [ask] = await tg.send(ANA, "/asistencia")
        assert ask["text"].startswith("¿Cuál es el código de la reunión?")
        [reply] = await tg.send(ANA, code)
        texts.append(reply["text"])
    wrong = "El código {} no existe"
    assert [t.startswith(wrong.format(c)) for t, c in zip(texts[:4], guesses, strict=False)] \
        == [True] * 4
    assert all(t.startswith(WAIT) for t in texts[4:])
    [refused] = await tg.send(ANA, f"/asistencia {CODE}")
    assert refused["text"].startswith(WAIT)

    tg.app.clock.advance(minutes=15)
    [done] = await tg.send(ANA, f"/asistencia {CODE}")
    assert done["text"].startswith("¡Listo! Quedó registrada tu asistencia")
    assert len(await lockouts(tg)) == 1


async def test_many_wrong_codes_from_everyone_make_everyone_wait_and_are_logged_once(
        tg: Running, caplog: pytest.LogCaptureFixture) -> None:
    ids = await seed(tg, {ANA: "es", BETO: "es"})
    await invite(tg, ids["meeting"], [ids[str(ANA)], ids[str(BETO)]])
    clock = tg.app.clock
    clock.set(STARTS - timedelta(minutes=30))
    async with tg.app.sessions() as s:
        # Many chats guessed, each under its own limit.
        for n in range(attempts.GLOBAL_LIMIT - 1):
            s.add(CodeAttempt(who=f"telegram:{90000 + n // 4}",
                              at=clock.now() - timedelta(minutes=5)))
        await s.commit()
    with caplog.at_level(logging.WARNING, logger="storage.attempts"):
        [last] = await tg.send(ANA, "/asistencia WXYWXY")
        assert "muchos códigos equivocados" in last["text"]
        # Beto never typed a wrong code, yet his right one waits like everyone's.
        [beto] = await tg.send(BETO, f"/asistencia {CODE}")
        assert "muchos códigos equivocados" in beto["text"] and "5 minutos" in beto["text"]
        [again] = await tg.send(ANA, "/asistencia WXYWXW")
        assert "muchos códigos equivocados" in again["text"]
    told = [r for r in caplog.records if "wrong codes from everyone" in r.getMessage()]
    assert len(told) == 1
    assert [a.details["scope"] for a in await lockouts(tg)] == ["everyone"]

    clock.advance(minutes=5)
    [done] = await tg.send(BETO, f"/asistencia {CODE}")
    assert done["text"].startswith("¡Listo! Quedó registrada tu asistencia")
    async with tg.app.sessions() as s:
        assert (await s.get(Meeting, ids["meeting"])).checkin_code == CODE


async def test_an_organisation_code_past_its_expiry_says_so_and_the_gestora_sees_and_renews_it(
        tg: Running, capsys: pytest.CaptureFixture[str]) -> None:
    now = tg.app.clock.now()
    async with tg.app.sessions() as s:
        program = await programs.create(s, template="ecomercado-15m", start=now.date(),
                                        name="Ecomercado Quilpué", now=now)
        s.add(Organization(program_id=program.id, name="Junta Ñuñoa", created_at=now))
        await s.commit()
    assert await cli_outreach.run(tg.app, parse("codes", "organizations", "--bot", "b")) == 0
    _name, code, _url = capsys.readouterr().out.strip().split("\t")
    await tg.send(ANA, "/start")
    await tg.press(ANA, "✅ Sí, acepto", count=2)

    tg.app.clock.advance(days=links.CODE_DAYS, minutes=1)
    expired, _ask = await tg.send(ANA, f"/start {code}", count=2)
    assert expired["text"] == (f"El código {code} ya venció. Pídele uno nuevo a la gestora, "
                               "por favor.")
    assert await cli_outreach.run(tg.app, parse("codes", "list")) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"Junta Ñuñoa\t{code}\torganización\tusos: 0 (sin límite)\tvenció el domingo 31 de mayo de 2026"]

    assert await cli_outreach.run(tg.app, parse("codes", "renew", code.lower())) == 0
    assert capsys.readouterr().out.strip() == (
        f"Listo: el código {code} vale hasta el sábado 29 de agosto de 2026.")
    [done] = await tg.send(ANA, f"/start {code}")
    assert "Junta Ñuñoa" in done["text"]
    assert await cli_outreach.run(tg.app, parse("codes", "list", "--locale", "en")) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"Junta Ñuñoa\t{code}\torganisation\tuses: 1 (no limit)\texpires on Saturday 29 August 2026"]
    with pytest.raises(CommandError):
        await cli_outreach.run(tg.app, parse("codes", "renew", "NOSUCH99"))


async def test_every_code_made_expires_unless_told_when(tg: Running) -> None:
    """The demo, the co-signature links and the cards all make codes through one function:
    none of them makes a code that works forever."""
    now = tg.app.clock.now()
    async with tg.app.sessions() as s:
        program = await programs.create(s, template="ecomercado-15m", start=now.date(),
                                        name="Ecomercado Quilpué", now=now)
        program.settings = {**(program.settings or {}), "code_days": 30}
        org = Organization(program_id=program.id, name="Junta Ñuñoa", created_at=now)
        s.add(org)
        await s.flush()
        made = await links.create(s, program.id, "organization", org.id, now)
        told = await links.create(s, program.id, "organization", org.id, now,
                                  expires_at=now + timedelta(days=2))
        await s.commit()
        assert (made.expires_at, told.expires_at) == (now + timedelta(days=30),
                                                      now + timedelta(days=2))
