import re
from datetime import date, datetime, time
from pathlib import Path
from textwrap import dedent

import pytest
from pydantic import TypeAdapter, ValidationError

from domain.program_templates import (
    Localized,
    Offset,
    ProgramTemplate,
    TemplateError,
    add_months,
    available_templates,
    load_template,
    parse_template,
)
from locales import Catalogs

SHIPPED = ["ecomercado-10m", "ecomercado-15m", "economia-solidaria-canelones",
           "fortalecimiento-cooperativas", "infraestructura-rural"]

# An eight-step rural infrastructure programme (seed 003) with a single body and yearly
# reports: nothing Ecomercado-specific, to show the model is general.
RURAL = dedent(
    """\
    key: infraestructura-rural
    name:
      es: Programa de Infraestructura Rural
      en: Rural Infrastructure Programme
    duration_months: 24
    timezone: America/Santiago
    bodies:
      - key: mesa_territorial
        name: {es: Mesa territorial, en: Territorial board}
        cadence_months: 3
        min_members: 7
    meeting_kinds:
      - key: validacion
        name: {es: Validación, en: Validation}
        body: mesa_territorial
      - key: seguimiento
        name: {es: Seguimiento, en: Follow-up}
        body: mesa_territorial
    verifiers:
      - key: mapa_territorios
        name: {es: Mapa e indicadores, en: Map and indicators}
      - key: pacto_territorial
        name: {es: Pacto territorial, en: Territorial pact}
      - key: pmdt
        name: {es: Plan marco de desarrollo territorial, en: Territorial development plan}
      - key: informe_anual
        name: {es: Informe anual, en: Yearly report}
    stages:
      - number: 1
        key: instalacion
        name: {es: Instalación del programa, en: Setting up}
        activities:
          - key: definicion_territorios
            name: {es: Definición de territorios, en: Choosing territories}
            start: {}
            end: {months: 2}
            verifiers: [mapa_territorios]
          - key: validacion_territorios
            name: {es: Validación de territorios, en: Validating territories}
            start: {months: 2}
            end: {months: 3}
            meeting_kind: validacion
            min_sessions: 1
            verifiers: [pacto_territorial]
      - number: 2
        key: construccion_pmdt
        name: {es: Construcción de PMDT, en: Building the plans}
        activities:
          - key: evaluacion_oferta
            name: {es: Evaluación de la oferta, en: Assessing investment supply}
            start: {months: 3}
            end: {months: 5}
          - key: elaboracion_pmdt
            name: {es: Elaboración de los PMDT, en: Drawing up the plans}
            start: {months: 5}
            end: {months: 8}
            verifiers: [pmdt]
          - key: validacion_pmdt
            name: {es: Validación de los PMDT, en: Validating the plans}
            start: {months: 8}
            end: {months: 9}
            meeting_kind: validacion
            min_sessions: 2
      - number: 3
        key: gestion_pmdt
        name: {es: Gestión de los PMDT, en: Managing the plans}
        activities:
          - key: ejecucion_inversion
            name: {es: Ejecución de la inversión, en: Carrying out the investment}
            start: {months: 9}
            end: {months: 24}
          - key: capacidades_locales
            name: {es: Capacidades y modelo de gestión local, en: Local management model}
            start: {months: 9}
            end: {months: 20}
          - key: seguimiento_pmdt
            name: {es: Seguimiento y actualización, en: Follow-up and update}
            start: {months: 9}
            end: {months: 24}
            meeting_kind: seguimiento
            min_sessions: 4
            recurring: true
    progress_reports: [12, 24]
    progress_report:
      key: informe_anual
      name: {es: Informe anual, en: Yearly report}
      verifiers: [informe_anual]
    reminders:
      pickup: {policy: all_at_once}
      quiet_hours: {start: "22:00", end: "07:30"}
    """
)


def said(exc: TemplateError) -> str:
    """The problems as an English-reading operator reads them."""
    return "\n".join(exc.lines_in(Catalogs(), "en"))


def at(text: str, needle: str, skip: int = 0) -> str:
    """``line:column`` (1-based) of ``needle`` in ``text``, ``skip`` characters into it."""
    index = text.index(needle) + skip
    line = text.count("\n", 0, index) + 1
    return f"{line}:{index - (text.rfind(chr(10), 0, index) + 1) + 1}"


def write(tmp_path: Path, text: str, name: str = "infraestructura-rural.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# --------------------------------------------------------------------------- shipped


def test_shipped_templates_are_listed():
    assert set(SHIPPED) <= set(available_templates())


@pytest.mark.parametrize(
    ("key", "months", "reports"),
    [("ecomercado-10m", 10, [8]), ("ecomercado-15m", 15, [9, 11, 13])],
)
def test_shipped_ecomercado_template_loads(key, months, reports):
    template = load_template(key)
    assert template.key == key
    assert template.duration_months == months
    assert template.progress_reports == reports
    assert template.timezone == "America/Santiago"
    assert template.body("grupo_motor").cadence_months == 1
    assert template.body("grupo_motor").min_members == 5
    assert template.body("consejo_local").cadence_months == 2
    assert template.name["es"] and template.name["en"]


@pytest.mark.parametrize("key", SHIPPED)
def test_every_reference_resolves(key):
    template = load_template(key)
    body_keys = {b.key for b in template.bodies}
    for kind in template.meeting_kinds:
        assert kind.body is None or kind.body in body_keys
    for stage in template.stages:
        for act in stage.activities:
            if act.meeting_kind is not None:
                assert template.meeting_kind(act.meeting_kind).key == act.meeting_kind
            for ver in act.verifiers:
                assert template.verifier(ver).name["es"]
    for ver in template.progress_report.verifiers:
        assert template.verifier(ver)


def test_15m_milestones_for_march_2026():
    # Worked out by hand: activity [start, end) is due on end - 1 day; month N of the
    # convenio is [start + N-1 months, start + N months).  Start is Monday 2026-03-02.
    expected = [
        ("s1.socializacion", date(2026, 3, 2), date(2026, 3, 15)),
        ("s1.diagnostico", date(2026, 3, 16), date(2026, 4, 1)),
        ("s2.constitucion_grupo_motor", date(2026, 4, 2), date(2026, 5, 15)),
        ("s2.constitucion_consejo_local", date(2026, 5, 16), date(2026, 7, 1)),
        ("s3.priorizacion", date(2026, 7, 9), date(2026, 8, 1)),
        ("s3.plan_comunicaciones", date(2026, 8, 2), date(2026, 9, 1)),
        ("s3.plan_trabajo", date(2026, 8, 2), date(2026, 9, 1)),
        ("informe_avance.9", date(2026, 11, 2), date(2026, 12, 1)),
        ("informe_avance.11", date(2027, 1, 2), date(2027, 2, 1)),
        ("s2.formacion", date(2026, 7, 2), date(2027, 3, 1)),
        ("s4.estructura_municipal", date(2026, 9, 2), date(2027, 3, 1)),
        ("s4.proyeccion", date(2026, 9, 2), date(2027, 3, 1)),
        ("informe_avance.13", date(2027, 3, 2), date(2027, 4, 1)),
        ("s4.ejecucion_plan_comunicaciones", date(2026, 9, 2), date(2027, 4, 1)),
        ("s4.ejecucion_plan_trabajo", date(2026, 9, 2), date(2027, 4, 1)),
        ("s4.evaluacion", date(2027, 3, 16), date(2027, 4, 1)),
        ("s4.traspaso", date(2027, 3, 2), date(2027, 4, 1)),
    ]
    milestones = load_template("ecomercado-15m").milestones(date(2026, 3, 2))
    assert [(m.key, m.starts, m.due) for m in milestones] == expected


def test_15m_progress_reports_and_details():
    milestones = {m.key: m for m in load_template("ecomercado-15m").milestones(date(2026, 3, 2))}
    reports = [m for m in milestones.values() if m.kind == "progress_report"]
    assert [m.due for m in reports] == [date(2026, 12, 1), date(2027, 2, 1), date(2027, 4, 1)]
    assert all(m.stage == 4 and m.verifiers == ("informe_avance",) for m in reports)
    assert reports[0].name == {"es": "Informe de avance", "en": "Progress report"}

    gm = milestones["s2.constitucion_grupo_motor"]
    assert gm.kind == "activity" and gm.stage == 2
    assert gm.meeting_kind == "grupo_motor" and gm.min_sessions == 1
    assert {"declaracion_compromiso", "acta_constitucion_grupo_motor"} <= set(gm.verifiers)
    assert milestones["s2.formacion"].recurring
    assert milestones["s3.plan_trabajo"].min_sessions == 2
    assert milestones["s3.plan_comunicaciones"].min_sessions == 2
    assert "matriz_seguimiento" in milestones["s4.ejecucion_plan_trabajo"].verifiers
    assert {"inventario", "reglamento_uso"} <= set(milestones["s4.traspaso"].verifiers)


def test_10m_calendar_for_march_2026():
    milestones = {m.key: m for m in load_template("ecomercado-10m").milestones(date(2026, 3, 2))}
    # Month 8 is [2026-10-02, 2026-11-02).
    assert milestones["informe_avance.8"].due == date(2026, 11, 1)
    assert milestones["s2.formacion"].starts == date(2026, 7, 2)
    assert milestones["s2.formacion"].due == date(2026, 11, 1)
    # Mid month 6: 2026-08-02 + 2 weeks.
    assert milestones["s4.proyeccion"].starts == date(2026, 8, 16)
    assert milestones["s4.traspaso"].due == date(2026, 11, 1)
    assert "s4.estructura_municipal" not in milestones


@pytest.mark.parametrize("key", SHIPPED)
@pytest.mark.parametrize(
    "start", [date(2026, 3, 2), date(2026, 1, 31), date(2027, 8, 31), date(2028, 2, 29)]
)
def test_milestones_sorted_unique_and_inside_programme(key, start):
    template = load_template(key)
    milestones = template.milestones(start)
    keys = [m.key for m in milestones]
    assert len(keys) == len(set(keys))
    assert milestones == sorted(milestones, key=lambda m: (m.due, m.key))
    for m in milestones:
        assert start <= m.starts <= m.due <= template.end_date(start)


def test_reminder_defaults_when_block_omitted():
    reminders = load_template("ecomercado-10m").reminders
    assert reminders.meeting.day_before_at == time(18, 0)
    assert reminders.meeting.hours_before == 2
    assert reminders.non_responders.days_before == [3, 1]
    assert reminders.milestones.days_before == [7, 1]
    assert (reminders.quiet_hours.start, reminders.quiet_hours.end) == (time(21), time(8))
    assert reminders.weekly_digest.weekday == "monday"
    assert reminders.weekly_digest.at == time(9, 0)
    assert reminders.pickup.days_before == 2
    assert reminders.pickup.evening_before_at == time(19, 0)
    assert reminders.pickup.morning_of_at == time(8, 0)
    assert reminders.pickup.policy in ("all_at_once", "before_each")


# --------------------------------------------------------------------------- dates


@pytest.mark.parametrize(
    ("day", "months", "expected"),
    [
        (date(2026, 1, 31), 1, date(2026, 2, 28)),
        (date(2024, 1, 31), 1, date(2024, 2, 29)),
        (date(2026, 3, 31), 1, date(2026, 4, 30)),
        (date(2026, 11, 15), 3, date(2027, 2, 15)),
        (date(2026, 3, 2), 0, date(2026, 3, 2)),
        (date(2026, 3, 31), -1, date(2026, 2, 28)),
    ],
)
def test_add_months_clamps_to_month_end(day, months, expected):
    assert add_months(day, months) == expected


def test_offset_applies_months_then_weeks_and_days():
    assert Offset(months=1, weeks=1, days=2).apply(date(2026, 1, 31)) == date(2026, 3, 9)


def test_milestones_refuse_a_datetime():
    with pytest.raises(TypeError):
        load_template("ecomercado-10m").milestones(datetime(2026, 3, 2, 9, 0))


# --------------------------------------------------------------------------- Localized


def test_localized_requires_es_and_en():
    adapter = TypeAdapter(Localized)
    assert adapter.validate_python({"es": "Hola", "en": "Hello", "es-CL": "Wena"})
    with pytest.raises(ValidationError, match="missing translation"):
        adapter.validate_python({"es": "Hola"})
    with pytest.raises(ValidationError):
        adapter.validate_python({"es": "Hola", "en": "   "})


def test_template_name_without_en_names_the_field(tmp_path):
    text = RURAL.replace("  en: Rural Infrastructure Programme\n", "", 1)
    path = write(tmp_path, text)
    with pytest.raises(TemplateError) as info:
        load_template(path)
    # The line of the mapping that lacks the language: the one under `name:`.
    assert f"{path}:{at(text, 'es:')}: name: missing translation(s): en" in said(info.value)


# --------------------------------------------------------------------------- generic


def test_generic_rural_template_validates(tmp_path):
    template = load_template(write(tmp_path, RURAL))
    assert isinstance(template, ProgramTemplate)
    assert [b.key for b in template.bodies] == ["mesa_territorial"]
    assert sum(len(s.activities) for s in template.stages) == 8
    assert template.reminders.pickup.policy == "all_at_once"
    assert template.reminders.quiet_hours.end == time(7, 30)
    # Untouched parts of the block keep their defaults.
    assert template.reminders.meeting.day_before_at == time(18, 0)

    # Start on the 31st: 2026-01-31 + 12 months = 2027-01-31, + 24 = 2028-01-31.
    milestones = {m.key: m for m in template.milestones(date(2026, 1, 31))}
    assert milestones["informe_anual.12"].due == date(2027, 1, 30)
    assert milestones["informe_anual.24"].due == date(2028, 1, 30)
    assert milestones["informe_anual.12"].stage is None
    # 2026-01-31 + 2 months = 2026-03-31, so the window [Jan 31, Mar 31) ends on Mar 30.
    assert milestones["s1.definicion_territorios"].due == date(2026, 3, 30)
    # + 1 month clamps to 2026-02-28, so the window [Jan 31, Feb 28) ends on Feb 27.
    assert add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)


def test_parse_template_accepts_yaml_text():
    assert parse_template(RURAL).key == "infraestructura-rural"


# --------------------------------------------------------------------------- errors


def test_wrong_value_names_file_and_field_path(tmp_path):
    path = write(tmp_path, RURAL.replace("min_sessions: 2", "min_sessions: -2"))
    with pytest.raises(TemplateError) as info:
        load_template(path)
    message = str(info.value)
    assert str(path) in message
    assert "stages[1].activities[2].min_sessions" in message
    assert info.value.problems[0][0] == "stages[1].activities[2].min_sessions"


def test_unknown_field_is_rejected(tmp_path):
    path = write(
        tmp_path,
        RURAL.replace("    cadence_months: 3\n", "    cadence_months: 3\n    colour: green\n"),
    )
    with pytest.raises(TemplateError) as info:
        load_template(path)
    text = path.read_text(encoding="utf-8")
    assert f"{path}:{at(text, 'green')}: bodies[0].colour: unknown field" in said(info.value)


def test_unknown_top_level_field_is_rejected(tmp_path):
    path = write(tmp_path, RURAL + "stage_count: 3\n")
    with pytest.raises(TemplateError) as info:
        load_template(path)
    assert ": stage_count: unknown field" in said(info.value)


def test_yaml_syntax_error_gives_line(tmp_path):
    path = write(tmp_path, "key: infraestructura-rural\nname: {es: x\n")
    with pytest.raises(TemplateError) as info:
        load_template(path)
    assert str(info.value).startswith(f"{path}:3:1: ")  # where the flow mapping ran out
    assert "invalid YAML" in str(info.value)


def test_duplicate_yaml_key_is_rejected(tmp_path):
    path = write(tmp_path, RURAL + "duration_months: 12\n")
    with pytest.raises(TemplateError, match="duplicate key 'duration_months'"):
        load_template(path)


def test_undeclared_references_are_reported_one_line_each(tmp_path):
    text = (
        RURAL.replace("meeting_kind: seguimiento", "meeting_kind: reunion")
        .replace("verifiers: [pmdt]", "verifiers: [pmdt, acta]")
        .replace("body: mesa_territorial", "body: junta", 1)
    )
    path = write(tmp_path, text)
    with pytest.raises(TemplateError) as info:
        load_template(path)
    lines = info.value.lines_in(Catalogs(), "en")
    assert lines == [
        f"{path}:{at(text, 'junta')}: meeting_kinds[0].body: meeting kind 'validacion' "
        "refers to undeclared body 'junta'",
        f"{path}:{at(text, 'pmdt, acta', 6)}: stages[1].activities[1].verifiers[1]: "
        "activity 'elaboracion_pmdt' refers to undeclared verifier 'acta'",
        f"{path}:{at(text, 'reunion')}: stages[2].activities[2].meeting_kind: activity "
        "'seguimiento_pmdt' refers to undeclared meeting kind 'reunion'",
    ]


def refused(path: Path) -> str:
    """The template's problems as an English-reading operator reads them."""
    with pytest.raises(TemplateError) as info:
        load_template(path)
    return "\n".join(info.value.lines_in(Catalogs(), "en"))


def test_end_before_start_is_rejected(tmp_path):
    text = RURAL.replace("end: {months: 8}", "end: {months: 4, weeks: 4}")
    with pytest.raises(TemplateError, match=r"stages\[1\]\.activities\[1\]\.end: must be after"):
        load_template(write(tmp_path, text))


def test_activity_after_programme_end_is_rejected(tmp_path):
    text = RURAL.replace("end: {months: 20}", "end: {months: 24, days: 1}")
    assert re.search(r"activities\[1\]\.end: activity '[a-z_]+' ends after the "
                     r"programme \(it lasts 24 months\)", refused(write(tmp_path, text)))


def test_duplicate_keys_are_rejected(tmp_path):
    text = RURAL.replace("key: evaluacion_oferta", "key: definicion_territorios")
    assert "already declared at stages[0]" in refused(write(tmp_path, text))


def test_progress_report_outside_programme_is_rejected(tmp_path):
    text = RURAL.replace("progress_reports: [12, 24]", "progress_reports: [12, 25]")
    assert "progress_reports[1]: month 25 is after the programme's last month (24)" in \
        refused(write(tmp_path, text))


def test_unquoted_time_is_rejected(tmp_path):
    # YAML 1.1 reads 22:00 unquoted as the base-60 number 1320.
    text = RURAL.replace('start: "22:00"', "start: 22:00")
    with pytest.raises(TemplateError, match=r"reminders\.quiet_hours\.start: .*quoted"):
        load_template(write(tmp_path, text))


def test_send_time_inside_quiet_hours_is_rejected(tmp_path):
    text = RURAL.replace('start: "22:00"', 'start: "17:00"')
    assert "reminders.meeting.day_before_at: 18:00 falls in the quiet hours (17:00-07:30)" \
        in refused(write(tmp_path, text))


def test_unknown_timezone_is_rejected(tmp_path):
    text = RURAL.replace("timezone: America/Santiago", "timezone: America/Springfield")
    with pytest.raises(TemplateError, match="timezone: unknown time zone"):
        load_template(write(tmp_path, text))


def test_key_must_match_file_name(tmp_path):
    with pytest.raises(TemplateError, match="must match the file name 'otro'"):
        load_template(write(tmp_path, RURAL, name="otro.yaml"))


def test_unknown_template_key():
    with pytest.raises(TemplateError, match="no template 'no-existe'"):
        load_template("no-existe")
    with pytest.raises(TemplateError, match="not a valid template key"):
        load_template("../secrets")
