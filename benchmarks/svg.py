"""Inline SVG charts for the HTML report: no JavaScript, no external CSS or fonts.

Three kinds: :func:`line_chart` (series of (x, y) points, optional log x),
:func:`scatter_chart` (labelled points) and :func:`box_chart` (horizontal
min / p50 / p90 / p99 / max boxes, one per labelled row). Each returns one
``<svg>`` element as a string; every label is XML-escaped.
"""

from __future__ import annotations

import math
from html import escape

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f")
W, H, LEFT, RIGHT, TOP, BOTTOM = 640, 360, 70, 170, 36, 48


def _ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    if hi <= lo:
        hi = lo + 1.0
    raw = (hi - lo) / count
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    start = math.floor(lo / step) * step
    return [start + i * step for i in range(int(math.ceil((hi - start) / step)) + 1)]


def _fmt(v: float) -> str:
    return f"{v:.0f}" if abs(v) >= 100 or v == int(v) else f"{v:.3g}"


class _Frame:
    """Axes mapping data to pixels, with gridlines and labels."""

    def __init__(self, xs: list[float], ys: list[float], logx: bool = False, y0: bool = True) -> None:
        self.logx = logx
        fx = [math.log2(x) for x in xs] if logx else xs
        self.x_lo, self.x_hi = min(fx), max(fx)
        if self.x_hi == self.x_lo:
            self.x_lo, self.x_hi = self.x_lo - 1, self.x_hi + 1
        y_lo = 0.0 if y0 else min(ys)
        self.yticks = _ticks(y_lo, max(ys) * 1.05 if max(ys) > 0 else 1.0)
        self.y_lo, self.y_hi = self.yticks[0], self.yticks[-1]

    def x(self, v: float) -> float:
        v = math.log2(v) if self.logx else v
        return LEFT + (v - self.x_lo) / (self.x_hi - self.x_lo) * (W - LEFT - RIGHT)

    def y(self, v: float) -> float:
        return H - BOTTOM - (v - self.y_lo) / (self.y_hi - self.y_lo) * (H - TOP - BOTTOM)

    def axes(self, title: str, xlabel: str, ylabel: str, xticks: list[float]) -> list[str]:
        out = [f'<text x="{W / 2:.0f}" y="20" text-anchor="middle" font-weight="bold">{escape(title)}</text>']
        for t in self.yticks:
            out.append(f'<line x1="{LEFT}" x2="{W - RIGHT}" y1="{self.y(t):.1f}" y2="{self.y(t):.1f}" '
                       f'stroke="#ddd"/><text x="{LEFT - 6}" y="{self.y(t) + 4:.1f}" '
                       f'text-anchor="end">{_fmt(t)}</text>')
        for t in xticks:
            out.append(f'<text x="{self.x(t):.1f}" y="{H - BOTTOM + 16}" text-anchor="middle">{_fmt(t)}</text>')
        out.append(f'<line x1="{LEFT}" x2="{W - RIGHT}" y1="{H - BOTTOM}" y2="{H - BOTTOM}" stroke="#333"/>')
        out.append(f'<line x1="{LEFT}" x2="{LEFT}" y1="{TOP}" y2="{H - BOTTOM}" stroke="#333"/>')
        out.append(f'<text x="{(LEFT + W - RIGHT) / 2:.0f}" y="{H - 10}" text-anchor="middle">{escape(xlabel)}</text>')
        out.append(f'<text transform="translate(16,{(TOP + H - BOTTOM) / 2:.0f}) rotate(-90)" '
                   f'text-anchor="middle">{escape(ylabel)}</text>')
        return out


def _svg(parts: list[str], height: int = H) -> str:
    body = "\n".join(parts)
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{height}" viewBox="0 0 {W} {height}" '
            f'font-family="sans-serif" font-size="11">\n{body}\n</svg>')


def _legend(names: list[str]) -> list[str]:
    return [f'<rect x="{W - RIGHT + 10}" y="{TOP + 16 * i}" width="10" height="10" fill="{PALETTE[i % len(PALETTE)]}"/>'
            f'<text x="{W - RIGHT + 24}" y="{TOP + 16 * i + 9}">{escape(n)}</text>' for i, n in enumerate(names)]


def line_chart(series: dict[str, list[tuple[float, float]]], title: str, xlabel: str, ylabel: str,
               logx: bool = False) -> str:
    """One polyline with dots per series; x values are shared ticks."""
    points = [p for s in series.values() for p in s]
    frame = _Frame([p[0] for p in points], [p[1] for p in points], logx)
    xticks = sorted({p[0] for p in points})
    out = frame.axes(title, xlabel, ylabel, xticks)
    for i, (name, pts) in enumerate(series.items()):
        color = PALETTE[i % len(PALETTE)]
        path = " ".join(f"{frame.x(x):.1f},{frame.y(y):.1f}" for x, y in sorted(pts))
        out.append(f'<polyline fill="none" stroke="{color}" stroke-width="2" points="{path}"/>')
        out += [f'<circle cx="{frame.x(x):.1f}" cy="{frame.y(y):.1f}" r="3" fill="{color}">'
                f'<title>{escape(name)}: {x:g}, {y:.3g}</title></circle>' for x, y in pts]
    return _svg(out + _legend(list(series)))


def scatter_chart(points: list[tuple[str, float, float]], title: str, xlabel: str, ylabel: str) -> str:
    """Labelled points (label, x, y); the y axis starts at the data, not at 0."""
    xticks = _ticks(0.0, max(p[1] for p in points))
    frame = _Frame([0.0, xticks[-1]], [p[2] for p in points], y0=False)
    out = frame.axes(title, xlabel, ylabel, xticks)
    for i, (label, x, y) in enumerate(points):
        color = PALETTE[i % len(PALETTE)]
        out.append(f'<circle cx="{frame.x(x):.1f}" cy="{frame.y(y):.1f}" r="5" fill="{color}">'
                   f'<title>{escape(label)}: {x:.3g} ms, {y:.3g}</title></circle>')
    return _svg(out + _legend([p[0] for p in points]))


def box_chart(rows: list[tuple[str, dict]], title: str, xlabel: str, groups: list[int] | None = None) -> str:
    """Horizontal boxes: whiskers min..max, box p50..p90, a tick at p99; ``rows`` = (label, stats dict).

    ``groups`` gives each row's colour index (e.g. one colour per configuration); default: one per row.
    """
    row_h, left = 22, 230
    height = TOP + BOTTOM + row_h * len(rows)
    hi = max(s["max"] for _, s in rows) or 1.0
    ticks = _ticks(0.0, hi)

    def x(v: float) -> float:
        return left + v / ticks[-1] * (W - left - 20)

    out = [f'<text x="{W / 2:.0f}" y="20" text-anchor="middle" font-weight="bold">{escape(title)}</text>']
    for t in ticks:
        out.append(f'<line x1="{x(t):.1f}" x2="{x(t):.1f}" y1="{TOP}" y2="{height - BOTTOM}" stroke="#ddd"/>'
                   f'<text x="{x(t):.1f}" y="{height - BOTTOM + 16}" text-anchor="middle">{_fmt(t)}</text>')
    for i, (label, s) in enumerate(rows):
        y = TOP + row_h * i + row_h / 2
        color = PALETTE[(groups[i] if groups else i) % len(PALETTE)]
        out.append(f'<text x="{left - 8}" y="{y + 4:.1f}" text-anchor="end">{escape(label)}</text>'
                   f'<line x1="{x(s["min"]):.1f}" x2="{x(s["max"]):.1f}" y1="{y:.1f}" y2="{y:.1f}" stroke="#555"/>'
                   f'<rect x="{x(s["p50"]):.1f}" y="{y - 7:.1f}" width="{max(x(s["p90"]) - x(s["p50"]), 1.5):.1f}" '
                   f'height="14" fill="{color}" opacity="0.8"><title>{escape(label)}: p50 {s["p50"]:.3g}, '
                   f'p90 {s["p90"]:.3g}, p99 {s["p99"]:.3g}, max {s["max"]:.3g} ms</title></rect>'
                   f'<line x1="{x(s["p99"]):.1f}" x2="{x(s["p99"]):.1f}" y1="{y - 7:.1f}" y2="{y + 7:.1f}" '
                   f'stroke="#000" stroke-width="2"/>')
    out.append(f'<text x="{(left + W) / 2:.0f}" y="{height - 10}" text-anchor="middle">{escape(xlabel)}</text>')
    return _svg(out, height)
