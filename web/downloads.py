"""A document made by documents/ handed to the browser as a file to save: its media type,
and its name in Content-Disposition both as plain ASCII (old browsers) and as UTF-8
(RFC 6266/5987), so "Acta-Peñalolén.pdf" keeps its ñ where it can."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Sequence
from urllib.parse import quote

from starlette.responses import Response

from documents.base import Ctx, ExportFile, slugify
from web.context import Page, Refusal


def ctx_of(p: Page) -> Ctx:
    """The documents' context: the reader's language, the programme's zone, now."""
    return Ctx(p.panel.catalogs, p.loc, p.zone, p.now)


def asked_format(p: Page, allowed: Sequence[str], missing: str = "web.plans.not_found"
                 ) -> str:
    """The format the address asks for (``…/x.{fmt}``), one the document is made in, or the
    page ``missing`` names (404)."""
    fmt = p.request.path_params["fmt"]
    if fmt not in allowed:
        raise Refusal(404, missing)
    return fmt


def _ascii(name: str) -> str:
    stem, dot, ext = name.rpartition(".")
    if not dot:
        stem, ext = name, ""
    plain = slugify(stem)
    return f"{plain}.{ext}" if ext else plain


def attachment(file: ExportFile) -> Response:
    disposition = (f'attachment; filename="{_ascii(file.filename)}"; '
                   f"filename*=UTF-8''{quote(file.filename)}")
    return Response(file.content, media_type=file.mime_type,
                    headers={"Content-Disposition": disposition,
                             "Cache-Control": "private, no-store"})


def one_or_zip(files: Sequence[ExportFile], name: str) -> Response:
    """One file as it is; several (a ficha per organisation) in one zip named ``name``."""
    if len(files) == 1:
        return attachment(files[0])
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        seen: set[str] = set()
        for f in files:
            filename, n = f.filename, 1
            while filename in seen:  # two fichas of organisations with the same name
                n += 1
                stem, _dot, ext = f.filename.rpartition(".")
                filename = f"{stem}-{n}.{ext}"
            seen.add(filename)
            z.writestr(filename, f.content)
    return attachment(ExportFile(f"{name}.zip", buf.getvalue(), "application/zip"))
