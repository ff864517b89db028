"""Every figure the README ties to a report is the report's value, as rounded in the README.

Convention (for everyone who adds a figure to README.md): put an HTML comment right after the number, naming
the committed file it comes from and the key inside it::

    acc@10cm 95.25<!--fig benchmarks/reports/DIR/export.json evaluate.torch_fp32.acc_10cm--> %

* the path is relative to the repository root, and the file must be committed (CI checks a fresh clone);
* JSON: the key is a dotted path, list items by index (``results.3.latency_ms.end_to_end.p50``);
  JUnit XML (pytest ``--junitxml``): ``TAG@ATTRIBUTE`` of the first such element (``testsuite@tests``), or
  ``count:TAG`` for the number of such elements (``count:testcase``);
* a ratio of two values of the same file: ``KEY1/KEY2`` (a speed-up: ``results.2.latency_ms.end_to_end.mean/``
  ``results.4.latency_ms.end_to_end.mean``);
* the number is checked as written: ``95.25`` must be the value rounded to 2 decimals, ``7.2e-6`` the value to
  2 significant digits, ``14`` an integer equal to the value. GitHub does not render the comments.

The same holds in the model card (``refinet_edge/weights/MODEL_CARD.md``) and in every page of the documentation
site (``docs/**/*.md``): a figure that moves from the README to a page keeps its check. In the tables listed in
``COVERED``
every number outside the label columns must carry a marker (a batch size written ``batch 8`` is an input), so
a figure added to them without its source fails the test; add a table to ``COVERED`` once its figures are marked.

Dated results stay dated in the text around them (date, machine), and the report says how it was made
(``command``). To add a figure: commit the report, write the number with its marker, run this test.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ("README.md", "refinet_edge/weights/MODEL_CARD.md",
        *sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "docs").rglob("*.md")))
# Markers in README.md (600) and the model card (96) when the README's measured sections moved to docs/
# (2026-12-05): moving a figure must not drop its check, so all files together keep at least these.
MIN_MARKERS = 696
# Tables whose every figure is marked: the start of the header row -> how many leading label columns (inputs).
COVERED = {
    "| synth run | command | result |": 2,  # synth generation rate
    "| step, 1 person |": 1,  # CPU pre-processing kernels
    "| resolution, people | fast NumPy |": 1,  # GPU pre-processing kernels
    "| 2D input | step | acc@10cm % |": 2,  # refinement results
    "| test split | input | patch |": 1,  # camera transfer
    "| camera, view | 2D input |": 2,  # lifted baseline
    "| report | machine, settings |": 2,  # benchmark reference reports
    "| source | command | backend | fps |": 3,  # live loop
    "| step | acc@10cm % | acc@5cm % |": 1,  # the demo's result (README, getting started)
    "| weights and code | bench report |": 2,  # measurement history: shipped weights over time
    "| 2D input | lifted input |": 1,  # README: accuracy per step
    "| split | what differs from training |": 2,  # README: out of distribution
    "| device, weights | backend, precision |": 2,  # README: latency per backend and device
}
UNMARKED = re.compile(r"(?<![\w.])(?<!batch )\d+(?:\.\d+)?(?![\w.])")
MARKER = re.compile(r"(?P<value>-?\d+(?:\.\d+)?(?:e[-+]?\d+)?)<!--fig (?P<path>\S+) (?P<key>\S+)\s*-->")
ANY_MARKER = re.compile(r"<!--fig\b")


def figures(text: str, doc: str = "README.md") -> list[tuple[str, str, str, int]]:
    """(value as written, file, key, line number) for every marked figure."""
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        matches = list(MARKER.finditer(line))
        assert len(matches) == len(ANY_MARKER.findall(line)), f"{doc}:{number}: a fig marker must directly " \
                                                              f"follow a number and name FILE KEY: {line.strip()}"
        found += [(m["value"], m["path"], m["key"], number) for m in matches]
    return found


def unmarked(text: str, doc: str = "README.md") -> list[str]:
    """Numbers without a fig marker in the data rows of the ``COVERED`` tables of ``text``."""
    found, table, labels = [], None, 0
    for number, line in enumerate(text.splitlines(), start=1):
        header = next((h for h in COVERED if line.startswith(h)), None)
        if header is not None:
            table, labels = header, COVERED[header]
            continue
        if table is None or not line.startswith("|"):
            table = None
            continue
        if line.startswith("|---"):
            continue
        for cell in line.strip().strip("|").split("|")[labels:]:
            bare = re.sub(r"<!--fig[^>]*-->", "", MARKER.sub("", cell))
            found += [f"{doc}:{number}: {m.group()} in {table!r}" for m in UNMARKED.finditer(bare)]
    return found


def lookup(path: Path, key: str) -> float:
    """The value at ``key`` in the JSON or JUnit XML file ``path`` (see the module docstring)."""
    if "/" in key:
        numerator, denominator = key.split("/")
        return lookup(path, numerator) / lookup(path, denominator)
    if path.suffix == ".xml":
        root = ET.parse(path).getroot()
        if key.startswith("count:"):
            return float(sum(1 for _ in root.iter(key[6:])))
        tag, attribute = key.split("@")
        element = next(root.iter(tag))
        return float(element.attrib[attribute])
    node = json.loads(path.read_text(encoding="utf-8"))
    for part in key.split("."):
        node = node[int(part)] if isinstance(node, list) else node[part]
    assert isinstance(node, int | float) and not isinstance(node, bool), f"{path} {key} is not a number: {node!r}"
    return float(node)


def matches(written: str, value: float) -> bool:
    """``written`` is ``value`` rounded the way it is written (decimals, or significant digits with e-notation)."""
    if "e" in written:
        mantissa = written.split("e")[0]
        digits = len(mantissa.split(".")[1]) if "." in mantissa else 0
        return float(f"{value:.{digits}e}") == float(written)
    decimals = len(written.split(".")[1]) if "." in written else 0
    return float(f"{value:.{decimals}f}") == float(written)


def test_the_rounding_rule_can_fail() -> None:
    assert matches("95.25", 95.25333) and matches("7.2e-6", 7.1526e-06) and matches("14", 14.0)
    assert not matches("95.26", 95.25333) and not matches("7.1e-6", 7.1526e-06) and not matches("18", 14.0)
    assert not matches("95.3", 95.2)


def test_a_ratio_key_divides_two_values(tmp_path: Path) -> None:
    report = tmp_path / "r.json"
    report.write_text(json.dumps({"results": [{"mean": 7.64}, {"mean": 3.289}]}), encoding="utf-8")
    value = lookup(report, "results.0.mean/results.1.mean")
    assert matches("2.32", value) and not matches("2.33", value)


def test_a_misplaced_marker_is_reported() -> None:
    with pytest.raises(AssertionError, match="must directly follow a number"):
        figures("the gate <!--fig a.json b--> passed")
    assert figures("p50 1.5<!--fig a.json x.y--> ms and 3<!--fig b.xml count:testcase-->") == [
        ("1.5", "a.json", "x.y", 1), ("3", "b.xml", "count:testcase", 1)]


def test_an_unmarked_figure_in_a_covered_table_is_reported() -> None:
    text = ("| test split | input | patch |\n|---|---|---|\n"
            "| itop_side 320x240, side | 34.29<!--fig a.json b--> / 381<!--fig a.json c--> "
            "| 54.33 / 219<!--fig a.json d--> |\n"
            "\n| other | 1.5 |\n")
    assert unmarked(text) == ["README.md:3: 54.33 in '| test split | input | patch |'"]
    inputs = "| report | machine, settings | x |\n|---|---|---|\n| a 2 | load 0.7 | batch 8: 5.39<!--fig a b--> ms |"
    assert unmarked(inputs) == []


def test_covered_tables_have_no_unmarked_figures() -> None:
    stray = [hit for doc in DOCS for hit in unmarked((ROOT / doc).read_text(encoding="utf-8"), doc)]
    assert not stray, "figures without a fig marker (see the module docstring):\n" + "\n".join(stray)


def test_the_docs_pages_are_checked_too() -> None:
    assert "docs/evaluation.md" in DOCS and "docs/benchmarks.md" in DOCS and len(DOCS) > 10


def test_no_marker_was_lost_in_moving_figures_to_the_docs() -> None:
    counts = {doc: len(figures((ROOT / doc).read_text(encoding="utf-8"), doc)) for doc in DOCS}
    assert counts["README.md"] >= 20, "the README's results lost their fig markers"
    assert counts["refinet_edge/weights/MODEL_CARD.md"] >= 20, "the model card's evaluation lost its fig markers"
    assert sum(counts.values()) >= MIN_MARKERS, f"fig markers were dropped: {counts}"


@pytest.mark.parametrize("doc", DOCS)
def test_every_marked_figure_is_in_its_report(doc: str) -> None:
    found = figures((ROOT / doc).read_text(encoding="utf-8"), doc)
    wrong = []
    for written, name, key, line in found:
        path = ROOT / name
        if not path.is_file():
            wrong.append(f"{doc}:{line}: {name} does not exist")
            continue
        try:
            value = lookup(path, key)
        except (KeyError, IndexError, StopIteration, ValueError) as exc:
            wrong.append(f"{doc}:{line}: {name} has no {key} ({type(exc).__name__}: {exc})")
            continue
        if not matches(written, value):
            wrong.append(f"{doc}:{line}: {written} but {name} {key} = {value!r}")
    assert not wrong, "\n".join(wrong)


def test_refresh_figures_rewrites_a_stale_figure_at_its_precision() -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("refresh_figures", ROOT / "scripts/refresh_figures.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    report = "benchmarks/reports/2026-12-05-cpu-2core-xeon-v8-ood/ood_suite.json"
    value = lookup(ROOT / report, "splits.0.steps.input.acc_10cm")
    text = f"input 12.3<!--fig {report} splits.0.steps.input.acc_10cm--> % and 7<!--fig {report} frames_per_split-->"
    new, changes = module.refresh(text, "doc.md")
    assert f"{value:.1f}<!--fig" in new and len(changes) == 2 - (lookup(ROOT / report, "frames_per_split") == 7)
    assert figures(new) and all(matches(w, lookup(ROOT / p, k)) for w, p, k, _ in figures(new))
    with pytest.raises(SystemExit, match="doc.md:1: .* has no nope"):
        module.refresh(f"1.0<!--fig {report} nope-->", "doc.md")
