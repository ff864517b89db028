"""Bench reports: ``report.json`` (the record), ``report.md`` and ``report.html`` (:mod:`.report_html`).

JSON layout (``schema_version`` 1)::

    {"schema_version": 1, "tool", "created_utc", "command", "machine": one line, "system": {...},
     "settings": {...}, "threads": {library: setting}, "shipped_points", "data", "timer_scope",
     "preprocess": the pre-processing path(s) the timed pipelines ran (absent in older reports),
     "accuracy_note", "seconds",
     "results": [{"backend", "precision", "points", "trained", "device", "notes", "batch" (people per call, as run:
                  bench refuses a batch its frames cannot fill), "stage_precision": {stage: what it ran after
                  calibrate's plan}, "preprocess": the path this row's pipeline ran (both absent in older reports),
                  "status": "ok" | "unavailable", "reason" (unavailable),
                  "latency_ms": {step: {"n", "min", "mean", "p50", "p90", "p95", "p99", "max", "std"}},
                  "samples_ms": {step: [...]}, "throughput_people_per_s", "timed_seconds",
                  "second_pass_share": of the timed people, the share the second pass ran again (absent in older
                  reports),
                  "speedup_vs_torch_fp32", "accuracy": {"step", "frames", "acc_10cm", "mpjpe_mm", ...} | null,
                  "load_average": {"before": [1, 5, 15 min], "after": [...]},
                  "power": {"source", "mean_mw": {rail: mW}, "mean_total_mw", "total_is",
                            "energy_per_frame_mj", "series": {"t_s", "total_mw"}} | null, "power_source"}],
     "live": [{"backend", "precision", "points", "summary": live's closing summary}]}  (with --live N)

Steps are those of :mod:`.staged` plus ``end_to_end``; latencies in ms.
"""

from __future__ import annotations

import json
from pathlib import Path

from refinet_edge.atomic import write_json
from refinet_edge.errors import RefinetError

from .staged import STEPS

SCHEMA_VERSION = 1


def read_report(path: str | Path) -> dict:
    """A bench report JSON, checked for its schema version."""
    path = Path(path)
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RefinetError(f"{path}: not found; pass a report.json written by `refinet-edge bench`") from None
    except json.JSONDecodeError as exc:
        raise RefinetError(f"{path}: not JSON ({exc})") from None
    if not isinstance(report, dict) or report.get("schema_version") != SCHEMA_VERSION or "results" not in report:
        raise RefinetError(f"{path}: not a bench report (schema_version {SCHEMA_VERSION} with results expected)")
    problem = schema_problem(report)
    if problem:
        raise RefinetError(f"{path}: not a complete bench report (schema_version {SCHEMA_VERSION}): {problem}; "
                           f"re-run `refinet-edge bench` to write it again")
    return report


Number = (int, float)
# What render and compare read, by key: a type, or a nested layout for a dict. Optional keys are left out.
STATS = {k: Number for k in ("min", "mean", "p50", "p90", "p99", "max", "std")}
SYSTEM = {"os": {"platform": str}, "python": str, "packages": dict}
TOP = {"tool": str, "created_utc": str, "command": str, "machine": str, "system": SYSTEM, "settings": dict,
       "shipped_points": int, "timer_scope": str, "accuracy_note": str, "seconds": Number, "results": list}
ROW = {"backend": str, "precision": str, "points": int, "trained": bool, "status": str}
ROW_OK = {"batch": int, "latency_ms": {"end_to_end": STATS}, "throughput_people_per_s": Number}
ROW_UNAVAILABLE = {"reason": str}


def _layout_problem(obj: dict, layout: dict, where: str) -> str | None:
    for key, kind in layout.items():
        if key not in obj:
            return f"{where}{key} missing"
        if isinstance(kind, dict):
            if not isinstance(obj[key], dict):
                return f"{where}{key} is not an object"
            problem = _layout_problem(obj[key], kind, f"{where}{key}.")
            if problem:
                return problem
        elif not isinstance(obj[key], kind) or (kind is not bool and isinstance(obj[key], bool)):
            return f"{where}{key} has the wrong type ({type(obj[key]).__name__})"
    return None


def schema_problem(report: dict) -> str | None:
    """The first field :func:`render` and ``report compare`` need that is missing or mistyped; None when complete."""
    problem = _layout_problem(report, TOP, "")
    for i, row in enumerate(report.get("results") or []):
        if problem:
            break
        if not isinstance(row, dict):
            return f"results[{i}] is not an object"
        problem = _layout_problem(row, ROW, f"results[{i}].")
        if not problem:
            layout = ROW_OK if row["status"] == "ok" else ROW_UNAVAILABLE
            problem = _layout_problem(row, layout, f"results[{i}].")
            if not problem and row["status"] == "ok" and row.get("power") is not None:
                power = {"source": str, "total_is": str, "mean_total_mw": Number, "energy_per_frame_mj": Number}
                problem = _layout_problem(row["power"], power, f"results[{i}].power.")
    return problem


def ok_rows(report: dict) -> list[dict]:
    return [r for r in report["results"] if r["status"] == "ok"]


def label(row: dict, shipped: int | None = None) -> str:
    points = "" if row["points"] == shipped else f" N={row['points']}" + ("" if row["trained"] else " (untrained)")
    return f"{row['backend']} {row['precision']}{points}"


def _num(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _share(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.0f}"


def _load(row: dict) -> str:
    """The 1-minute load average before and after the row's timed calls ('-' where the OS has none)."""
    load = row.get("load_average") or {}
    if not load.get("before") or not load.get("after"):
        return "-"
    return f"{load['before'][0]:.1f}-{load['after'][0]:.1f}"


def summary_table(report: dict) -> list[list[str]]:
    """Header + one row per timed configuration: the speed/accuracy pairs."""
    head = ["backend", "precision", "points", "batch", "p50 ms", "p90 ms", "p99 ms", "mean ms", "std ms",
            "people/s", "speed-up vs torch", "acc@10cm %", "MPJPE mm", "second pass %", "mJ/person", "load 1 min"]
    rows = [head]
    for r in ok_rows(report):
        e2e, acc, power = r["latency_ms"]["end_to_end"], r.get("accuracy"), r.get("power")
        rows.append([r["backend"], r["precision"], f"{r['points']}" + ("" if r["trained"] else " (untrained)"),
                     str(r["batch"]), _num(e2e["p50"]), _num(e2e["p90"]), _num(e2e["p99"]), _num(e2e["mean"]),
                     _num(e2e["std"]), _num(r["throughput_people_per_s"], 1),
                     _num(r.get("speedup_vs_torch_fp32")) + ("x" if r.get("speedup_vs_torch_fp32") else ""),
                     _num(acc and acc["acc_10cm"]), _num(acc and acc["mpjpe_mm"], 1),
                     _share(r.get("second_pass_share")), _num(power and power["energy_per_frame_mj"], 1), _load(r)])
    return rows


def stage_table(report: dict) -> list[list[str]]:
    """Header + per configuration and batch, p50 (p99) ms of every step."""
    steps = [*STEPS, "end_to_end"]
    rows = [["configuration", "batch", *steps]]
    for r in ok_rows(report):
        lat = r["latency_ms"]
        rows.append([label(r, report["shipped_points"]), str(r["batch"]),
                     *(f"{lat[s]['p50']:.2f} ({lat[s]['p99']:.2f})" if s in lat else "-" for s in steps)])
    return rows


def unavailable(report: dict) -> list[str]:
    return [f"{label(r, report['shipped_points'])}: {r['reason']}" for r in report["results"]
            if r["status"] == "unavailable"]


def notes(report: dict) -> list[str]:
    """What the backends said about a configuration (e.g. a stage kept at fp16 by calibrate's gate), once each."""
    seen: dict[str, None] = {}
    for r in report["results"]:
        for note in r.get("notes") or []:
            seen.setdefault(f"{r['backend']} {r['precision']}: {note}")
    return list(seen)


def system_lines(report: dict) -> list[str]:
    s = report["system"]
    pk = {k: v for k, v in s["packages"].items() if v}
    lines = [f"machine: {report['machine']}", f"OS: {s['os']['platform']}; Python {s['python']}; "
             f"memory {s.get('memory_mb')} MB", "packages: " + ", ".join(f"{k} {v}" for k, v in pk.items())]
    if s.get("load_average"):
        lines.append(f"load average (1, 5, 15 min) at the start: {', '.join(map(str, s['load_average']))}; at the "
                     f"end: {', '.join(map(str, report.get('load_average_end') or []))} "
                     f"({s['cpu']['usable_cores']} usable cores: above that, other processes share the CPU)")
    if s.get("gpus"):
        lines.append("GPUs: " + "; ".join(f"{g['name']} (driver {g['driver']})" for g in s["gpus"])
                     + f"; CUDA {s.get('cuda')}")
    if s.get("jetson"):
        j = s["jetson"]
        lines.append(f"Jetson: {j.get('model')}, L4T {j['nv_tegra_release'].get('l4t')}, power mode "
                     f"{(j.get('power_mode') or {}).get('mode')}, clocks locked: {j.get('clocks_locked')}")
    threads = report.get("threads") or report["settings"].get("threads")  # the first reports kept it in settings
    if isinstance(threads, dict):
        lines.append("threads: " + ", ".join(f"{k} {v}" for k, v in threads.items()))
    if report.get("preprocess"):
        lines.append(f"pre-processing: {report['preprocess']}")
    if report.get("refinement"):
        lines.append(f"refinement: {report['refinement']}")
    return lines


def md_table(rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    out += ["| " + " | ".join(r) + " |" for r in rows[1:]]
    return "\n".join(out)


def markdown(report: dict) -> str:
    parts = [f"# refinet-edge bench: {report['machine']}", "",
             f"Measured {report['created_utc']} with {report['tool']} in {report['seconds']:.0f} s. Reproduce:",
             "", "```bash", report["command"], "```", "", "## System", "",
             *(f"* {line}" for line in system_lines(report)), "", "## Speed and accuracy (end to end)", "",
             md_table(summary_table(report)), "", f"Timer scope: {report['timer_scope']}", "",
             f"Accuracy: {report['accuracy_note']}.", "", *(f"* {n}" for n in notes(report)), "",
             "## Per step: p50 (p99) ms", "",
             md_table(stage_table(report)), ""]
    if report.get("live"):
        from .live_bench import live_table

        parts += ["## Live loop (`refinet-edge live` machinery)", "", md_table(live_table(report)), "",
                  f"Source: {report['live'][0]['summary']['source']}; detector: "
                  f"{report['live'][0]['summary']['detector']}. The source runs in real time and drops frames the "
                  f"loop cannot keep up with; fps is the whole loop's (source, detector, refinement).", ""]
    missing = unavailable(report)
    if missing:
        parts += ["## Not run here", "", *(f"* {m}" for m in missing), ""]
    powered = [r for r in ok_rows(report) if r.get("power")]
    if powered:
        parts += ["## Power", "", md_table([["configuration", "batch", "source", "total is", "mean W", "mJ/person"]]
                  + [[label(r, report["shipped_points"]), str(r["batch"]), r["power"]["source"],
                      r["power"]["total_is"], f"{r['power']['mean_total_mw'] / 1e3:.2f}",
                      f"{r['power']['energy_per_frame_mj']:.1f}"] for r in powered]), ""]
        if any(r["power"]["source"] == "NVML" and r.get("device") == "cpu" for r in powered):
            parts += ["NVML reads the GPU board alone: rows that run on the CPU show the GPU's draw while it "
                      "waits, not the energy of their own work.", ""]
    else:
        sources = {r.get("power_source") for r in ok_rows(report)}
        parts += ["## Power", "", f"Not measured: {'; '.join(s for s in sources if s)}.", ""]
    return "\n".join(parts)


def render(json_path: Path) -> list[Path]:
    """Rewrite ``report.md`` and ``report.html`` beside a ``report.json`` (after a change to the layout)."""
    return write_reports(read_report(json_path), json_path.parent)[1:]


def write_reports(report: dict, out_dir: Path) -> list[Path]:
    """``report.json``, ``report.md`` and ``report.html`` in ``out_dir``; returns their paths."""
    from refinet_edge.atomic import atomic_path

    from .report_html import html_page

    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / "report.json", out_dir / "report.md", out_dir / "report.html"]
    write_json(paths[0], report)
    for path, text in ((paths[1], markdown(report)), (paths[2], html_page(report))):
        with atomic_path(path) as tmp:
            tmp.write_text(text, encoding="utf-8")
    return paths
