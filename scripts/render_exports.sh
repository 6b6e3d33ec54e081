#!/usr/bin/env bash
# Renders every export of the test programme (tests/test_exports.py's seed) into a folder,
# with a PNG of each PDF page, so a person can look at them before a release.
#   scripts/render_exports.sh [out-dir]      (default: ./exports-preview)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-exports-preview}"
PY="${PYTHON:-/tmp/venv/bin/python}"
[ -x "$PY" ] || PY=python3
mkdir -p "$OUT"
"$PY" - "$OUT" <<'PYEOF'
import asyncio
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, "tests")
import test_exports as t  # noqa: E402

from documents import exports  # noqa: E402
from locales import Catalogs  # noqa: E402
from storage import db, responses  # noqa: E402

out = Path(sys.argv[1])


async def main() -> None:
    # The seed's fichas use a simpler definition than the forms engine reads.
    responses.answers_for_export = t.fake_answers_for_export
    responses.form_of = lambda row, known=None: t.SEEDED_FORM
    catalogs = Catalogs()
    with tempfile.TemporaryDirectory() as tmp:
        engine = db.create_engine(f"sqlite+aiosqlite:///{tmp}/preview.sqlite3")
        await db.upgrade(engine)
        seed = await t.seed_programme(db.session_factory(engine))
        files = []
        async with seed.sessions() as s:
            for loc in ("es", "en"):
                kw = {"now": t.NOW, "locale": loc, "catalogs": catalogs}
                for fmt in ("pdf", "xlsx", "csv"):
                    files.append(await exports.attendance_list(s, seed.meetings["M3"], fmt, **kw))
                    files.append(await exports.delivery_day_list(s, seed.days["D1"], fmt, **kw))
                    files.append(await exports.invited_organizations(s, seed.program_id, fmt, **kw))
                files += await exports.ficha_pdfs(s, seed.program_id, **kw)
                files.append(await exports.fichas_xlsx(s, seed.program_id, **kw))
                for fmt in ("pdf", "xlsx"):
                    files.append(await exports.progress_report(s, seed.program_id, fmt, **kw))
                files.append(await exports.progress_chart(s, seed.program_id, **kw))
            files.append(await exports.attendance_list(
                s, seed.meetings["M3"], "pdf", now=t.NOW, catalogs=catalogs, font_dirs=()))
        await engine.dispose()
    for f in files:
        name = f.filename
        if (out / name).exists():
            name = name.replace(".pdf", "-helvetica.pdf")
        (out / name).write_bytes(f.content)
        print(out / name)


asyncio.run(main())
PYEOF
if command -v pdftoppm >/dev/null; then
    for pdf in "$OUT"/*.pdf; do pdftoppm -png -r 80 "$pdf" "${pdf%.pdf}"; done
else
    echo "pdftoppm not found (apt-get install poppler-utils): PDFs left unrendered" >&2
fi
