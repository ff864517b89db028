"""The self-contained HTML bench report: tables and inline SVG plots (:mod:`.svg`), no scripts, no links.

Plots: latency per step (boxes min/p50-p90/p99/max) at the smallest batch and
the shipped points per joint; throughput against batch; accuracy against
latency (trained configurations) and latency against points per joint (the
sweep, untrained N included); total power over time when it was measured.
:func:`compare_page` puts several reports side by side.
"""

from __future__ import annotations

from html import escape

from .report import label, notes, ok_rows, stage_table, summary_table, system_lines, unavailable
from .staged import STEPS
from .svg import box_chart, line_chart, scatter_chart

STYLE = ("body{font-family:sans-serif;margin:24px;max-width:1380px;color:#222}"
         "table{border-collapse:collapse;margin:8px 0 16px;font-size:13px}"
         "td,th{border:1px solid #ccc;padding:3px 7px;text-align:right}th{background:#f3f3f3}"
         "td:first-child,th:first-child{text-align:left}code,pre{background:#f6f6f6;padding:2px 4px}"
         "pre{padding:8px;white-space:pre-wrap}.plots svg{margin:8px 12px 8px 0;border:1px solid #eee}")


def html_table(rows: list[list[str]]) -> str:
    head = "".join(f"<th>{escape(c)}</th>" for c in rows[0])
    body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in r) + "</tr>" for r in rows[1:])
    return f"<table><tr>{head}</tr>{body}</table>"


def _smallest(rows: list[dict], key: str) -> int | None:
    values = [r[key] for r in rows]
    return min(values) if values else None


def plots(report: dict) -> list[str]:
    """The report's SVG charts, in order (those without data are left out)."""
    rows, shipped = ok_rows(report), report["shipped_points"]
    out: list[str] = []
    b0 = _smallest(rows, "batch")
    base = [r for r in rows if r["batch"] == b0 and r["points"] == shipped]
    if base:
        picked = [(i, r, s) for i, r in enumerate(base) for s in (*STEPS, "end_to_end") if s in r["latency_ms"]]
        boxes = [(f"{label(r, shipped)}: {s}", r["latency_ms"][s]) for _, r, s in picked]
        out.append(box_chart(boxes, f"Latency per step, batch {b0}, N={shipped} (box p50-p90, bar p99)", "ms",
                             groups=[i for i, _, _ in picked]))
    series: dict[str, list[tuple[float, float]]] = {}
    for r in rows:
        if r["points"] == shipped:
            series.setdefault(label(r, shipped), []).append((r["batch"], r["throughput_people_per_s"]))
    if series and len({b for s in series.values() for b, _ in s}) > 1:
        out.append(line_chart(series, "Throughput vs batch", "batch (people per call)", "people / s", logx=True))
    acc = [(label(r, shipped), r["latency_ms"]["end_to_end"]["p50"], r["accuracy"]["acc_10cm"])
           for r in rows if r["batch"] == b0 and r.get("accuracy")]
    if acc:
        out.append(scatter_chart(acc, f"Accuracy vs latency (batch {b0}, trained N={shipped})",
                                 "end-to-end p50 ms", "acc@10cm %"))
    sweep: dict[str, list[tuple[float, float]]] = {}
    for r in rows:
        if r["batch"] == b0:
            sweep.setdefault(f"{r['backend']} {r['precision']}", []).append(
                (r["points"], r["latency_ms"]["end_to_end"]["p50"]))
    if sweep and len({p for s in sweep.values() for p, _ in s}) > 1:
        out.append(line_chart(sweep, f"Latency vs points per joint (batch {b0}; only N={shipped} is trained)",
                              "points per joint N", "end-to-end p50 ms", logx=True))
    power = {f"{label(r, shipped)} b{r['batch']}": list(zip(r["power"]["series"]["t_s"],
                                                               [v / 1e3 for v in r["power"]["series"]["total_mw"]],
                                                               strict=True))
             for r in rows if r.get("power") and len(r["power"]["series"]["t_s"]) > 1}
    if power:
        out.append(line_chart(power, "Total power during the timed calls", "s", "W"))
    return out


def html_page(report: dict) -> str:
    missing = unavailable(report)
    parts = [f"<h1>refinet-edge bench: {escape(report['machine'])}</h1>",
             f"<p>Measured {escape(report['created_utc'])} with {escape(report['tool'])} in "
             f"{report['seconds']:.0f} s. Reproduce:</p><pre>{escape(report['command'])}</pre>",
             "<h2>System</h2><ul>" + "".join(f"<li>{escape(s)}</li>" for s in system_lines(report)) + "</ul>",
             "<h2>Speed and accuracy (end to end)</h2>", html_table(summary_table(report)),
             f"<p><b>Timer scope.</b> {escape(report['timer_scope'])}</p>",
             f"<p><b>Accuracy.</b> {escape(report['accuracy_note'])}.</p>",
             *(["<p><b>Notes.</b></p><ul>" + "".join(f"<li>{escape(n)}</li>" for n in notes(report)) + "</ul>"]
               if notes(report) else []),
             '<h2>Plots</h2><div class="plots">' + "".join(plots(report)) + "</div>",
             "<h2>Per step: p50 (p99) ms</h2>", html_table(stage_table(report))]
    if report.get("live"):
        from .live_bench import live_table

        summary = report["live"][0]["summary"]
        parts += ["<h2>Live loop</h2>", html_table(live_table(report)),
                  f"<p>Source: {escape(summary['source'])}; detector: {escape(summary['detector'])}. Real time: "
                  "frames the loop cannot keep up with are dropped; fps is the whole loop's.</p>"]
    if missing:
        parts.append("<h2>Not run here</h2><ul>" + "".join(f"<li>{escape(m)}</li>" for m in missing) + "</ul>")
    return _page(f"refinet-edge bench {report['created_utc']}", parts)


def _page(title: str, parts: list[str]) -> str:
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
            f"<style>{STYLE}</style></head><body>\n" + "\n".join(parts) + "\n</body></html>\n")


def compare_page(keys: list[str], names: list[str], reports: list[dict], table: list[list[str]]) -> str:
    """Several reports (columns lettered ``keys``): the side-by-side table, throughput vs batch of each."""
    series: dict[str, list[tuple[float, float]]] = {}
    for name, report in zip(keys, reports, strict=True):
        for r in ok_rows(report):
            if r["points"] == report["shipped_points"]:
                series.setdefault(f"{name}: {label(r, r['points'])}", []).append(
                    (r["batch"], r["throughput_people_per_s"]))
    charts = []
    if series and len({b for s in series.values() for b, _ in s}) > 1:
        charts.append(line_chart(series, "Throughput vs batch", "batch (people per call)", "people / s", logx=True))
    sources = "".join(f"<li><b>{escape(k)}</b> = {escape(n)}: {escape(r['machine'])}, {escape(r['created_utc'])}"
                      f"<br><code>{escape(r['command'])}</code></li>"
                      for k, n, r in zip(keys, names, reports, strict=True))
    parts = ["<h1>refinet-edge bench comparison</h1>", f"<ul>{sources}</ul>", html_table(table),
             '<div class="plots">' + "".join(charts) + "</div>"]
    return _page("refinet-edge bench comparison", parts)
