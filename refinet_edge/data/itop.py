"""ITOP reader: real ITOP files and synthetic sets written in the same layout.

Layout (see :mod:`refinet_edge.data._itop_layout`): ``ITOP_{view}_{file_split}_{kind}.h5``
with kind ``depth_map``, ``labels`` and optionally ``point_cloud``, plus an
optional ``camera.json`` (without it the ``itop_{view}`` preset is used).

Logical splits (as the RefiNet authors): ``train`` = train file minus subjects
04 and 05, ``val`` = train file subjects 04 and 05, ``test`` = test file; frames
with ``is_valid == 0`` are dropped.

Everything leaving :class:`ItopSplit` is in the package convention (camera
frame, y down, metres); :class:`ItopWriter` (in :mod:`.itop_writer`, re-exported
here) converts back to ITOP's y up on write.
"""

from __future__ import annotations

import operator
import os
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from ..camera import Camera, camera_preset, itop_to_camera
from ..errors import RefinetError
from ..skeleton import NUM_JOINTS
from ._h5 import check_numeric, check_shape, contiguous_runs, get_dataset, open_h5, read_ids
from ._itop_layout import (
    CAMERA_FILE,
    FILE_SPLITS,
    KINDS,
    SPLITS,
    VAL_SUBJECTS,
    VIEWS,
    check_choice,
    itop_path,
    subject_of,
)
from .itop_writer import ItopWriter

__all__ = [
    "CAMERA_FILE", "FILE_SPLITS", "KINDS", "SPLITS", "VAL_SUBJECTS", "VIEWS",
    "ItopSplit", "ItopWriter", "itop_path", "open_split", "subject_of",
]

LABEL_KEYS = ("id", "is_valid", "visible_joints", "image_coordinates", "real_world_coordinates")


class ItopSplit:
    """One logical split of one view: labels in memory, depth maps read lazily.

    Attributes:
        root, view, split: where and what (``split`` is train, val or test).
        camera: intrinsics of the depth maps (``camera.json`` or the ``itop_{view}`` preset).
        ids: frame ids, ``list[str]`` of length N.
        rows: ``(N,)`` int64 increasing row of each frame in the HDF5 files.
        joints_m: ``(N, 15, 3)`` float64 joints, camera frame (y down), metres.
        uv_px: ``(N, 15, 2)`` float64 joint pixels (u, v).
        visible: ``(N, 15)`` bool, ITOP's ``visible_joints``.
        attrs: provenance attributes of the labels file (empty for real ITOP).

    HDF5 files are opened on first use in each process (and closed after the
    checks in the constructor), so the object can be handed to forked or
    spawned data-loader workers.
    """

    def __init__(self, root: str | os.PathLike[str], view: str, split: str) -> None:
        self.root = Path(root)
        self.view = check_choice(view, VIEWS, "view")
        self.split = check_choice(split, SPLITS, "split")
        self.file_split = "test" if split == "test" else "train"
        if not self.root.is_dir():
            what = "is not a directory" if self.root.exists() else "not found"
            raise RefinetError(f"ITOP directory {self.root} {what}")
        self._paths = {k: itop_path(self.root, view, self.file_split, k) for k in KINDS}
        self._check_files_present()
        self._files: dict[str, h5py.File] = {}
        self._pid = os.getpid()
        try:
            file_ids = self._load_labels()
            self._check_depth(file_ids)
            self.camera = self._load_camera()
            self._has_point_cloud = self._paths["point_cloud"].is_file()
            if self._has_point_cloud:
                self._check_point_cloud(file_ids)
        finally:
            self.close()

    # -- construction checks ------------------------------------------------------------
    def _check_files_present(self) -> None:
        needed = [self._paths["depth_map"], self._paths["labels"]]
        missing = [p.name for p in needed if not p.is_file()]
        if missing:
            found = sorted(p.name for p in self.root.glob("ITOP_*.h5"))
            seen = f"found {', '.join(found)}" if found else "found no ITOP_*.h5 files"
            raise RefinetError(
                f"{self.root}: missing {', '.join(missing)} (view {self.view!r}, split {self.split!r} "
                f"reads ITOP_{self.view}_{self.file_split}_*.h5); {seen}"
            )

    def _load_labels(self) -> list[str]:
        f = self._file("labels")
        ds = {key: get_dataset(f, key) for key in LABEL_KEYS}
        file_ids = read_ids(ds["id"])
        n = len(file_ids)
        shapes = {"is_valid": ("N",), "visible_joints": ("N", NUM_JOINTS),
                  "image_coordinates": ("N", NUM_JOINTS, 2), "real_world_coordinates": ("N", NUM_JOINTS, 3)}
        for key, shape in shapes.items():
            check_shape(ds[key], shape, n)
            check_numeric(ds[key])
        bad = next((i for i in file_ids if "_" not in i), None)
        if bad is not None:
            raise RefinetError(f"{f.filename}: id {bad!r} is not 'subject_frame' like '00_00000'")
        subjects = np.array([subject_of(i) for i in file_ids])
        valid = ds["is_valid"][()] != 0
        keep = valid
        if self.split != "test":
            in_val = np.isin(subjects, VAL_SUBJECTS)
            keep = valid & (in_val if self.split == "val" else ~in_val)
        self.rows = np.flatnonzero(keep)
        if self.rows.size == 0:
            raise RefinetError(self._empty_reason(f.filename, n, subjects[valid]))
        self.ids = [file_ids[r] for r in self.rows]
        self.joints_m = itop_to_camera(ds["real_world_coordinates"][()][self.rows])
        self.uv_px = ds["image_coordinates"][()][self.rows].astype(np.float64)
        self.visible = ds["visible_joints"][()][self.rows] != 0
        self.attrs = {k: _plain(v) for k, v in f.attrs.items()}
        return file_ids

    def _empty_reason(self, filename: str, n: int, valid_subjects: np.ndarray) -> str:
        head = f"split {self.split!r} of ITOP {self.view} in {self.root} has no frames"
        if n == 0:
            return f"{head}: {filename} holds no frames"
        if valid_subjects.size == 0:
            return f"{head}: all {n} frames of {filename} have is_valid == 0"
        found = ", ".join(sorted(set(valid_subjects.tolist())))
        if self.split == "val":
            return f"{head}: subjects {'/'.join(VAL_SUBJECTS)} not present among valid frames (found {found})"
        return f"{head}: only the validation subjects {'/'.join(VAL_SUBJECTS)} have valid frames"

    def _check_ids(self, kind: str, ids: list[str], file_ids: list[str]) -> None:
        if ids == file_ids:
            return
        labels = self._paths["labels"].name
        if len(ids) != len(file_ids):
            detail = f"{len(ids)} ids vs {len(file_ids)} in {labels}"
        else:
            i = next(k for k, (a, b) in enumerate(zip(ids, file_ids, strict=True)) if a != b)
            detail = f"row {i} is {ids[i]!r} there but {file_ids[i]!r} in {labels}"
        raise RefinetError(f"{self._paths[kind]}: 'id' disagrees with {labels}: {detail}")

    def _check_depth(self, file_ids: list[str]) -> None:
        f = self._file("depth_map")
        self._check_ids("depth_map", read_ids(get_dataset(f, "id")), file_ids)
        data = get_dataset(f, "data")
        check_shape(data, ("N", "H", "W"), len(file_ids))
        check_numeric(data)
        self.shape: tuple[int, int] = (int(data.shape[1]), int(data.shape[2]))

    def _load_camera(self) -> Camera:
        path = self.root / CAMERA_FILE
        camera = Camera.from_json(path) if path.is_file() else camera_preset(f"itop_{self.view}")
        if camera.shape != self.shape:
            source = str(path) if path.is_file() else f"camera preset {camera.name!r}"
            hint = "" if path.is_file() else f"; put a {CAMERA_FILE} (Camera.to_dict) in {self.root}"
            raise RefinetError(
                f"{source} is {camera.width}x{camera.height} but the depth maps in "
                f"{self._paths['depth_map'].name} are {self.shape[1]}x{self.shape[0]}{hint}"
            )
        return camera

    def _check_point_cloud(self, file_ids: list[str]) -> None:
        f = self._file("point_cloud")
        self._check_ids("point_cloud", read_ids(get_dataset(f, "id")), file_ids)
        data = get_dataset(f, "data")
        check_shape(data, ("N", self.shape[0] * self.shape[1], 3), len(file_ids))
        check_numeric(data)

    # -- access -------------------------------------------------------------------------
    def _file(self, kind: str) -> h5py.File:
        if self._pid != os.getpid():  # a forked worker: never reuse the parent's handles
            self._files, self._pid = {}, os.getpid()
        if kind not in self._files:
            self._files[kind] = open_h5(self._paths[kind])
        return self._files[kind]

    def __len__(self) -> int:
        return len(self.ids)

    def _row(self, i: int) -> int:
        i = operator.index(i)
        if not -len(self) <= i < len(self):
            raise IndexError(f"frame {i} out of range for {len(self)} frames of {self!r}")
        return int(self.rows[i])

    def depth(self, i: int) -> np.ndarray:
        """Depth map of frame ``i``: ``(H, W)`` float32 metres, 0 = no depth."""
        return self._file("depth_map")["data"][self._row(i)].astype(np.float32)

    def depths(self, indices: np.ndarray | list[int] | range) -> np.ndarray:
        """Depth maps of frames ``indices`` (any order): ``(B, H, W)`` float32 metres.

        Reads each contiguous run of file rows with one slice (HDF5 reads need
        increasing rows), then restores the requested order.
        """
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        if idx.size and (idx.min() < -len(self) or idx.max() >= len(self)):
            raise IndexError(f"frame indices out of range for {len(self)} frames of {self!r}")
        rows = self.rows[idx]
        unique, inverse = np.unique(rows, return_inverse=True)
        data = self._file("depth_map")["data"]
        out = np.empty((unique.size, *self.shape), dtype=np.float32)
        for first, stop, offset in contiguous_runs(unique):
            out[offset : offset + stop - first] = data[first:stop]
        return out[inverse.reshape(-1)]

    def depth_batch(self, start: int, stop: int) -> np.ndarray:
        """Depth maps of frames ``start:stop`` (clipped like a slice): ``(B, H, W)`` float32."""
        return self.depths(range(*slice(start, stop).indices(len(self))))

    def point_cloud(self, i: int) -> np.ndarray:
        """Point cloud of frame ``i``: ``(H*W, 3)`` float32, camera frame (y down), metres.

        From ``point_cloud.h5`` when present, else deprojected from the depth map;
        pixels without depth give (0, 0, 0), in scan order either way.
        """
        if self._has_point_cloud:
            xyz_itop = self._file("point_cloud")["data"][self._row(i)]
            return itop_to_camera(xyz_itop).astype(np.float32)
        return self.camera.depth_to_points(self.depth(i)).astype(np.float32)

    def close(self) -> None:
        """Close the HDF5 files (they reopen on the next read)."""
        for f in self._files.values():
            f.close()
        self._files = {}

    def __enter__(self) -> ItopSplit:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_files"] = {}
        return state

    def __repr__(self) -> str:
        return f"ItopSplit({str(self.root)!r}, view={self.view!r}, split={self.split!r}, frames={len(self)})"


def open_split(root: str | os.PathLike[str], view: str, split: str) -> ItopSplit:
    """Open one logical split (``train``, ``val`` or ``test``) of one view; see :class:`ItopSplit`."""
    return ItopSplit(root, view, split)


def _plain(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value.item() if isinstance(value, np.generic) else value

