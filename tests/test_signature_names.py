"""A name typed in the ficha, as its answer or as the signature, is kept as Chileans write
names (issue 10): capitals at the start of each name, particles in lower case, and the
registered person's spelling when it is their name but for accents and case; the document
shows one name."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from sqlalchemy import select, update
from test_fichas_reach_the_gestora import tg  # noqa: F401  (the fixture)
from test_forms_flow import toggle

from documents import exports
from domain import names
from storage import programs
from storage.models import FormResponse, FormSignature, Person
from telegram_harness import Running

CHAT = 7101


def test_names_are_written_as_chileans_write_them() -> None:
    assert names.person_name("rosa elena  pizarro carvajal") == "Rosa Elena Pizarro Carvajal"
    assert names.person_name("MARÍA DE LA LUZ DEL RÍO") == "María de la Luz del Río"
    assert names.person_name("juan pablo o'higgins pérez-cotapos") == \
        "Juan Pablo O'Higgins Pérez-Cotapos"
    assert names.person_name("Ana McDonald Ortúzar y Vergara") == "Ana McDonald Ortúzar y Vergara"
    assert names.person_name("MARIA JOSE ARAYA", ["María José Araya"]) == "María José Araya"
    assert names.person_name("maria araya", ["María José Araya"]) == "Maria Araya"


async def fill(tg: Running, chat: int, answer: str, signature: str) -> dict:  # noqa: F811
    await tg.send(chat, "/ficha", count=2)
    await tg.send(chat, "Junta de Vecinos Villa Ñuñoa")
    await tg.press(chat, "Junta de vecinos")
    await tg.press(chat, "No")
    await tg.send(chat, "Villa Ñuñoa")
    await tg.send(chat, "40")
    await tg.send(chat, answer)
    await tg.send(chat, "12.345.678-5")
    await tg.send(chat, "Presidenta")
    await tg.send(chat, "9 8765 4321")
    await tg.press(chat, "Omitir")
    await toggle(tg, chat, "Grupo Motor")
    await tg.press(chat, "✔️ Listo")
    await toggle(tg, chat, "Martes")
    await tg.press(chat, "✔️ Listo")
    await toggle(tg, chat, "Tarde")
    [summary] = await tg.press(chat, "✔️ Listo")
    [declaration] = await tg.press(chat, "✅ Confirmar")
    await tg.send(chat, signature, count=2)  # the RUT was answered above: the name signs
    return {"summary": summary["text"], "declaration": declaration["text"]}


async def test_the_registered_spelling_is_used_for_the_answer_and_the_signature(
        tg: Running) -> None:  # noqa: F811
    now = tg.app.clock.now()
    async with tg.app.sessions() as s:
        program = await programs.create(s, template="ecomercado-15m", start=now.date(),
                                        name="Ecomercado Quilpué", now=now)
        await s.commit()
    await tg.send(CHAT, "/start")
    await tg.press(CHAT, "✅ Sí, acepto", count=2)
    async with tg.app.sessions() as s:
        await s.execute(update(Person).values(name="María José Araya de la Fuente",
                                              program_id=program.id))
        await s.commit()

    shown = await fill(tg, CHAT, "maria jose  araya de la fuente",
                       "MARIA JOSE ARAYA DE LA FUENTE")
    assert "• Representante: María José Araya de la Fuente" in shown["summary"]
    assert "«Yo, María José Araya de la Fuente, Presidenta de" in shown["declaration"]
    async with tg.app.sessions() as s:
        response = await s.scalar(select(FormResponse))
        [signature] = (await s.scalars(select(FormSignature))).all()
    assert response.answers["representative_name"] == "María José Araya de la Fuente"
    assert signature.signed_name == "María José Araya de la Fuente"
    assert signature.signed_rut == "12.345.678-5"


async def test_a_name_typed_in_lower_case_is_capitalised(tg: Running) -> None:  # noqa: F811
    now = tg.app.clock.now()
    async with tg.app.sessions() as s:
        await programs.create(s, template="ecomercado-15m", start=now.date(),
                              name="Ecomercado Quilpué", now=now)
        await s.commit()
    await tg.send(CHAT, "/start")
    await tg.press(CHAT, "✅ Sí, acepto", count=2)
    shown = await fill(tg, CHAT, "rosa elena pizarro carvajal", "rosa elena  pizarro carvajal")
    assert "• Representante: Rosa Elena Pizarro Carvajal" in shown["summary"]
    async with tg.app.sessions() as s:
        [signature] = (await s.scalars(select(FormSignature))).all()
    assert signature.signed_name == "Rosa Elena Pizarro Carvajal"
    assert signature.signed_rut == "12.345.678-5"


def pdf_text(path) -> str:
    return subprocess.run(["pdftotext", "-enc", "UTF-8", "-layout", str(path), "-"],
                          capture_output=True, text=True, check=True).stdout


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="needs poppler-utils")
async def test_the_document_shows_one_spelling_of_a_signature_kept_as_typed(
        tg: Running, tmp_path) -> None:  # noqa: F811
    await test_the_registered_spelling_is_used_for_the_answer_and_the_signature(tg)
    async with tg.app.sessions() as s:
        # What an older version stored: the signature exactly as typed.
        await s.execute(update(FormSignature).values(signed_name="maria jose araya de la fuente"))
        await s.commit()
        [pdf] = await exports.ficha_pdfs(s, 1, now=tg.app.clock.now())
    path = tmp_path / pdf.filename
    path.write_bytes(pdf.content)
    text = pdf_text(path)
    assert "maria jose" not in text.lower().replace("maría josé", "")
    assert text.count("María José Araya de la Fuente") >= 3  # declaration and two tables
