"""Charts drawn on the server as SVG text: no script, no image to download, sharp when
printed, read aloud by a screen reader (role="img" named by its <title> and <desc>, and
each bar's own <title> saying what it counts).

``bars`` draws grouped horizontal bars: one row per group (an activity, a month) with one
bar per series (planned, achieved), so long names stay readable on a phone's width."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

# The progress report's PNG colours (documents.progress), so screen and paper agree.
COLOURS = ("#bdc9d9", "#2663a3", "#7a9a3a")
INK, MUTED, GRID = "#212529", "#6e747d", "#e1e5eb"
WIDTH = 720
LABEL_W = 230  # the groups' names, left of the bars
BAR_H, BAR_GAP, GROUP_GAP = 14, 3, 14
TOP = 44  # room for the legend
LABEL_CHARS = 34


@dataclass(frozen=True)
class Group:
    label: str
    values: tuple[int, ...]  # one per series


def _short(text: str, limit: int = LABEL_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 1].rstrip() + "…"


def _step(top: int) -> int:
    return next(s for s in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 10**9)
                if top / s <= 6)


def bars(chart_id: str, title: str, desc: str, series: Sequence[str],
         groups: Sequence[Group], *, empty: str, number: Callable[[int], str] = str) -> str:
    """An SVG of ``groups`` × ``series`` bars; ``empty`` is said when there is nothing to
    draw. ``number`` writes a count as the reader writes numbers."""
    t_id, d_id = f"{chart_id}-title", f"{chart_id}-desc"
    row_h = len(series) * (BAR_H + BAR_GAP) - BAR_GAP + GROUP_GAP
    plot_h = max(len(groups), 1) * row_h
    height = TOP + plot_h + 28
    left, right = LABEL_W, WIDTH - 40
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" id={quoteattr(chart_id)} '
           f'viewBox="0 0 {WIDTH} {height}" width="100%" role="img" '
           f'aria-labelledby="{t_id} {d_id}" font-family="sans-serif" font-size="13">',
           f'<title id="{t_id}">{escape(title)}</title>',
           f'<desc id="{d_id}">{escape(desc)}</desc>']
    # The legend.
    x = left
    for i, name in enumerate(series):
        out.append(f'<rect x="{x}" y="10" width="14" height="14" '
                   f'fill="{COLOURS[i % len(COLOURS)]}" aria-hidden="true"/>')
        out.append(f'<text x="{x + 20}" y="22" fill="{INK}">{escape(name)}</text>')
        x += 30 + 8 * len(name)
    if not groups:
        out.append(f'<text x="{WIDTH // 2}" y="{TOP + plot_h // 2}" text-anchor="middle" '
                   f'fill="{MUTED}">{escape(empty)}</text>')
        out.append("</svg>")
        return "".join(out)
    top_value = max((v for g in groups for v in g.values), default=0) or 1
    step = _step(top_value)
    axis_max = -(-top_value // step) * step
    scale = (right - left) / axis_max
    bottom = TOP + plot_h
    out.append('<g aria-hidden="true">')
    for v in range(0, axis_max + 1, step):
        gx = left + v * scale
        out.append(f'<line x1="{gx:.1f}" y1="{TOP - 4}" x2="{gx:.1f}" y2="{bottom}" '
                   f'stroke="{GRID}"/>')
        out.append(f'<text x="{gx:.1f}" y="{bottom + 18}" text-anchor="middle" '
                   f'fill="{MUTED}" font-size="11">{escape(number(v))}</text>')
    out.append(f'<line x1="{left}" y1="{TOP - 4}" x2="{left}" y2="{bottom}" stroke="{INK}"/>')
    out.append("</g>")
    for n, g in enumerate(groups):
        y0 = TOP + n * row_h
        out.append('<g class="group">')
        out.append(f'<text x="{left - 8}" y="{y0 + (row_h - GROUP_GAP) / 2 + 4:.1f}" '
                   f'text-anchor="end" fill="{INK}">{escape(_short(g.label))}</text>')
        for i, (name, value) in enumerate(zip(series, g.values, strict=True)):
            y = y0 + i * (BAR_H + BAR_GAP)
            w = value * scale
            said = f"{g.label}, {name}: {number(value)}"
            out.append(f'<rect class="bar s{i}" x="{left}" y="{y}" width="{w:.1f}" '
                       f'height="{BAR_H}" fill="{COLOURS[i % len(COLOURS)]}">'
                       f"<title>{escape(said)}</title></rect>")
            out.append(f'<text x="{left + w + 4:.1f}" y="{y + BAR_H - 3}" fill="{INK}" '
                       f'font-size="11" aria-hidden="true">{escape(number(value))}</text>')
        out.append("</g>")
    out.append("</svg>")
    return "".join(out)
