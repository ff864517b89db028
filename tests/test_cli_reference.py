"""The generated command-line reference (docs: cli.md) lists every registered verb and every option of each."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _load_cli_reference():
    spec = importlib.util.spec_from_file_location("cli_reference", ROOT / "scripts" / "cli_reference.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("cli_reference", module)
    spec.loader.exec_module(module)
    return module


cli_reference = _load_cli_reference()


def registered_verbs() -> list[str]:
    return [" ".join(path) for path, _ in cli_reference.verbs(cli_reference.root_command())]


def test_the_walk_finds_the_verbs_the_cli_registers() -> None:
    verbs = registered_verbs()
    # verbs registered by refinet_edge/cli.py itself and by the live, kernels, benchmarks and serve modules
    assert {"synth", "evaluate", "train", "demo", "export", "live", "record", "bench", "serve",
            "report compare", "report render"} <= set(verbs)
    assert len(verbs) == len(set(verbs)) >= 15


def test_the_reference_lists_every_verb_and_every_option() -> None:
    page = cli_reference.render()
    assert cli_reference.missing_from(page) == []
    for verb in registered_verbs():
        assert f"## `refinet-edge {verb}`" in page
    assert "`--no-point-cloud`" in page and "`--onnx-dir`" in page  # options, both spellings of a flag


def test_a_missing_verb_or_option_is_reported() -> None:
    page = cli_reference.render()
    without_demo = page.replace("## `refinet-edge demo`", "## `refinet-edge omitted`")
    assert cli_reference.missing_from(without_demo) == ["verb demo"]
    synth = page.split("## `refinet-edge synth`", 1)[1].split("\n## ", 1)[0]
    without_seed = page.replace(synth, synth.replace("`--seed`", "`--sed`"))
    assert cli_reference.missing_from(without_seed) == ["synth --seed"]


def test_the_readme_verbs_table_names_every_verb() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = readme.split("## Commands", 1)[1].split("\n## ", 1)[0]
    assert [v for v in registered_verbs() if f"`{v}`" not in table] == []
