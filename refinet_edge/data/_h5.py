"""Small HDF5 helpers that turn layout problems into one-line :class:`RefinetError` messages."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from ..errors import RefinetError


def open_h5(path: Path) -> h5py.File:
    """Open ``path`` read-only; a missing or non-HDF5 file raises :class:`RefinetError`."""
    if not path.is_file():
        raise RefinetError(f"{path}: file not found")
    try:
        return h5py.File(path, "r")
    except OSError as exc:
        reason = str(exc).split("(", 1)[-1].rstrip(")") if "(" in str(exc) else str(exc)
        raise RefinetError(f"{path}: not a readable HDF5 file ({reason})") from None


def get_dataset(f: h5py.File, key: str) -> h5py.Dataset:
    """``f[key]`` as a dataset; otherwise name the file, the key and what is present."""
    obj = f.get(key)
    if not isinstance(obj, h5py.Dataset):
        present = ", ".join(sorted(f.keys())) or "nothing"
        what = "is not a dataset" if obj is not None else "missing"
        raise RefinetError(f"{f.filename}: dataset {key!r} {what}; the file holds: {present}")
    return obj


def check_shape(ds: h5py.Dataset, expected: tuple[int | str, ...], n: int | None = None) -> None:
    """Check ``ds.shape`` against ``expected``; strings are free sizes shown by name.

    The name ``"N"`` is the frame count: when ``n`` is given the first axis must equal it.
    """
    got = ds.shape
    ok = len(got) == len(expected) and all(
        isinstance(e, str) or g == e for g, e in zip(got, expected, strict=False)
    )
    if ok and n is not None and expected and expected[0] == "N":
        ok = got[0] == n
    if not ok:
        shown = "(" + ", ".join(str(e) for e in expected) + ("," if len(expected) == 1 else "") + ")"
        with_n = f" with N = {n}" if n is not None and "N" in expected else ""
        raise RefinetError(
            f"{ds.file.filename}: dataset {ds.name.lstrip('/')!r} has shape {got}, expected {shown}{with_n}"
        )


def check_numeric(ds: h5py.Dataset) -> None:
    """Reject non-numeric datasets (strings, compounds) where numbers are expected."""
    if ds.dtype.kind not in "biuf":
        raise RefinetError(
            f"{ds.file.filename}: dataset {ds.name.lstrip('/')!r} has dtype {ds.dtype}, expected numbers"
        )


def read_ids(ds: h5py.Dataset) -> list[str]:
    """Frame ids as ``str``; fixed-length (``S8`` in ITOP) or variable-length strings."""
    check_shape(ds, ("N",))
    raw = ds[()]
    if raw.dtype.kind == "S":
        return [b.decode("ascii") for b in raw]
    if raw.dtype.kind == "O" and all(isinstance(b, (bytes, str)) for b in raw):
        return [b.decode("ascii") if isinstance(b, bytes) else b for b in raw]
    raise RefinetError(
        f"{ds.file.filename}: dataset {ds.name.lstrip('/')!r} has dtype {ds.dtype}, "
        f"expected byte strings like b'00_00000'"
    )


def contiguous_runs(rows: np.ndarray) -> list[tuple[int, int, int]]:
    """Split increasing ``rows`` into runs ``(first_row, stop_row, offset_in_rows)``."""
    if rows.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(rows) != 1) + 1
    starts = np.concatenate([[0], breaks])
    stops = np.concatenate([breaks, [rows.size]])
    return [(int(rows[a]), int(rows[b - 1]) + 1, int(a)) for a, b in zip(starts, stops, strict=True)]
