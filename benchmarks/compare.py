"""``refinet-edge report compare A.json B.json ...``: bench reports side by side.

Rows are configurations (backend, precision, points per joint, batch) found in
any report; per report the columns are end-to-end p50 and p99 (ms), people per
second, acc@10cm and mJ per person, and, from the second report on, its p50
relative to the first report's (``< 1`` = faster). Reports are lettered A, B, ...
in the columns and named (directory of ``<name>/report.json``, or file stem) in
the list above the table.
"""

from __future__ import annotations

from pathlib import Path

from .report import md_table, ok_rows, read_report


def report_name(path: Path, taken: set[str]) -> str:
    name = path.parent.name if path.name == "report.json" else path.stem
    base, i = name, 2
    while name in taken:
        name, i = f"{base}-{i}", i + 1
    taken.add(name)
    return name


def _key(row: dict) -> tuple:
    return (row["backend"], row["precision"], row["points"], row["batch"])


def compare_table(names: list[str], reports: list[dict]) -> list[list[str]]:
    """Header + one row per configuration present in any report ('-' where a report lacks it)."""
    indexed = [{_key(r): r for r in ok_rows(rep)} for rep in reports]
    keys = sorted({k for idx in indexed for k in idx}, key=lambda k: (k[0], k[1], k[2], k[3]))
    head = ["backend", "precision", "points", "batch"]
    for i, name in enumerate(names):
        head += [f"{name} p50 ms", f"{name} p99 ms", f"{name} people/s", f"{name} acc@10cm", f"{name} mJ/person"]
        if i:
            head.append(f"{name} p50 / {names[0]}")
    rows = [head]
    for key in keys:
        row = [key[0], key[1], str(key[2]), str(key[3])]
        first = indexed[0].get(key)
        for i, idx in enumerate(indexed):
            r = idx.get(key)
            if r is None:
                row += ["-"] * (5 + (1 if i else 0))
                continue
            e2e, acc, power = r["latency_ms"]["end_to_end"], r.get("accuracy"), r.get("power")
            row += [f"{e2e['p50']:.2f}", f"{e2e['p99']:.2f}", f"{r['throughput_people_per_s']:.1f}",
                    f"{acc['acc_10cm']:.2f}" if acc else "-",
                    f"{power['energy_per_frame_mj']:.1f}" if power else "-"]
            if i:
                row.append(f"{e2e['p50'] / first['latency_ms']['end_to_end']['p50']:.2f}" if first else "-")
        rows.append(row)
    return rows


def compare(paths: list[Path], out: Path | None = None) -> tuple[str, list[Path]]:
    """The Markdown comparison; with ``out``, also ``compare.md`` and ``compare.html`` written there."""
    from refinet_edge.atomic import atomic_path

    from .report_html import compare_page

    reports = [read_report(p) for p in paths]
    taken: set[str] = set()
    names = [report_name(Path(p), taken) for p in paths]
    keys = [chr(ord("A") + i) if len(paths) <= 26 else n for i, n in enumerate(names)]  # short column names
    table = compare_table(keys, reports)
    sources = "\n".join(f"* **{k}** = {n}: {r['machine']}, {r['created_utc']} (`{r['command']}`)"
                        for k, n, r in zip(keys, names, reports, strict=True))
    text = f"# refinet-edge bench comparison\n\n{sources}\n\n{md_table(table)}\n"
    written: list[Path] = []
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        page = compare_page(keys, names, reports, table)
        for path, content in ((out / "compare.md", text), (out / "compare.html", page)):
            with atomic_path(path) as tmp:
                tmp.write_text(content, encoding="utf-8")
            written.append(path)
    return text, written
