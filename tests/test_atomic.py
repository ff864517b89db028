"""Atomic outputs: a writer that fails half-way leaves the old file (or none) and no temporary file behind."""

from __future__ import annotations

from pathlib import Path

import pytest

from refinet_edge.atomic import atomic_path, write_json
from refinet_edge.errors import RefinetError


def test_failure_half_way_through_keeps_the_old_file(tmp_path: Path) -> None:
    final = tmp_path / "report.json"
    final.write_text('{"old": true}\n')
    with pytest.raises(RuntimeError, match="disk full"), atomic_path(final) as tmp:
        with open(tmp, "w") as f:
            f.write('{"new": ')  # half a report
            f.flush()
            assert final.read_text() == '{"old": true}\n'  # the final name is untouched while writing
            raise RuntimeError("disk full")
    assert final.read_text() == '{"old": true}\n'
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]


def test_unserialisable_report_writes_nothing(tmp_path: Path) -> None:
    with pytest.raises(TypeError):
        write_json(tmp_path / "r.json", {"steps": {"input": object()}})
    assert list(tmp_path.iterdir()) == []


def test_success_renames_into_place(tmp_path: Path) -> None:
    write_json(tmp_path / "sub" / "r.json", {"a": 1})
    assert (tmp_path / "sub" / "r.json").read_text() == '{\n  "a": 1\n}\n'
    assert [p.name for p in (tmp_path / "sub").iterdir()] == ["r.json"]


def test_output_path_checks(tmp_path: Path) -> None:
    from refinet_edge.atomic import check_output_dir, check_output_file

    check_output_file(tmp_path / "new" / "r.json", "--json")  # a directory that does not exist yet is fine
    with pytest.raises(RefinetError, match="--json .*: is a directory"):
        check_output_file(tmp_path, "--json")
    (tmp_path / "f").write_text("x")
    with pytest.raises(RefinetError, match="is a file, not a directory"):
        check_output_file(tmp_path / "f" / "r.json", "--json")
    with pytest.raises(RefinetError, match="--out .*: is a file"):
        check_output_dir(tmp_path / "f", "--out")
