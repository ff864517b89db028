"""ITOP writer: stream frames into an ITOP-layout directory, atomically.

Used for synthetic sets (and conversions); the files read back with
:class:`refinet_edge.data.itop.ItopSplit`. Layout and names: :mod:`._itop_layout`.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from .. import __version__
from ..atomic import atomic_path, write_json
from ..camera import Camera, camera_to_itop
from ..errors import RefinetError
from ..skeleton import NUM_JOINTS
from ._itop_layout import CAMERA_FILE, FILE_SPLITS, KINDS, VIEWS, check_choice, itop_path

COMPRESSIONS = ("gzip", "lzf", "none")
_FILTERS: dict[str, dict[str, Any]] = {
    "gzip": {"compression": "gzip", "compression_opts": 1}, "lzf": {"compression": "lzf"}, "none": {},
}
# Per-frame label columns besides id and segmentation: (shape after N, dtype).
_LABEL_COLUMNS: dict[str, tuple[tuple[int, ...], type]] = {
    "is_valid": ((), np.uint8),
    "visible_joints": ((NUM_JOINTS,), np.int16),
    "image_coordinates": ((NUM_JOINTS, 2), np.float32),  # real ITOP: integers
    "real_world_coordinates": ((NUM_JOINTS, 3), np.float32),
}
_ID_PATTERN = re.compile(r"^[0-9]{2}_[0-9]+$")


class ItopWriter:
    """Stream frames into one view/file split of an ITOP-layout directory.

    ``ItopWriter(root, view, file_split, camera)`` is a context manager: files
    go to temporary names and get their final ``ITOP_{view}_{file_split}_*.h5``
    names (plus ``camera.json``) only when the ``with`` block ends without an
    exception; otherwise nothing is left behind.

    Dtypes follow ITOP except ``image_coordinates``, written as float32 (real
    ITOP stores integer pixels) so synthetic 2D labels keep sub-pixel
    precision, and ``real_world_coordinates`` float32. Depth maps and point
    clouds are float16 metres like ITOP, one chunk per frame, compressed with
    ``compression``: gzip level 1 by default (every HDF5 reader decodes it; on
    a noisy synthetic 640x480 map about 190 kB/frame, 5 ms to write, 1.6 ms to
    read on one CPU core), ``lzf`` (h5py only; 280 kB, 2.4 ms, 1.3 ms) or
    ``none`` (615 kB). Ids are variable-length ASCII strings (ITOP: fixed
    ``S8``); the reader takes both.

    Args:
        root: output directory (created if needed); one directory = one camera.
        view: ``side`` or ``top``.  file_split: ``train`` or ``test``.
        camera: intrinsics of the depth maps; saved as ``camera.json``.
        with_point_cloud: also write ``point_cloud.h5`` (y up, float16).
        attrs: provenance stored as attributes of every file, e.g. ``{"generator":
            "refinet-edge synth", "seed": 7}``; they override the defaults
            ``generator``, ``version`` (refinet-edge's), ``intrinsics`` (the
            camera as JSON), ``view`` and ``file_split``.
        overwrite: replace existing files of this view/split (and drop a stale
            ``point_cloud.h5``); without it existing files are an error.
    """

    def __init__(
        self, root: str | os.PathLike[str], view: str, file_split: str, camera: Camera, *,
        with_point_cloud: bool = False, attrs: dict[str, Any] | None = None,
        overwrite: bool = False, compression: str = "gzip",
    ) -> None:
        self.root = Path(root)
        self.view = check_choice(view, VIEWS, "view")
        self.file_split = check_choice(file_split, FILE_SPLITS, "file split")
        if not isinstance(camera, Camera):
            raise RefinetError(f"ItopWriter needs a Camera, got {type(camera).__name__}")
        self.camera = camera
        self.kinds = KINDS if with_point_cloud else ("depth_map", "labels")
        self.attrs = {"generator": "refinet-edge", "version": __version__,
                      "intrinsics": json.dumps(camera.to_dict()), "view": view, "file_split": file_split,
                      **(attrs or {})}
        self.overwrite = overwrite
        check_choice(compression, COMPRESSIONS, "compression")
        self._filter = _FILTERS[compression]
        self.count = 0
        self._stack: contextlib.ExitStack | None = None
        self._files: dict[str, h5py.File] = {}

    @property
    def final_paths(self) -> tuple[Path, ...]:
        """The files this writer produces (``camera.json`` last)."""
        return (*map(self._final, self.kinds), self.root / CAMERA_FILE)

    def _final(self, kind: str) -> Path:
        return itop_path(self.root, self.view, self.file_split, kind)

    def _check_target(self) -> bool:
        """Refuse a clashing camera or existing files; return whether ``root`` exists."""
        if self.root.exists() and not self.root.is_dir():
            raise RefinetError(f"ITOP output {self.root} exists and is not a directory")
        cam_path = self.root / CAMERA_FILE
        if cam_path.is_file():
            old = Camera.from_json(cam_path).to_dict()
            new = self.camera.to_dict()
            diff = [k for k in new if k != "name" and not np.isclose(old[k], new[k], rtol=1e-9, atol=0)]
            if diff:
                shown = ", ".join(f"{k} {old[k]} vs {new[k]}" for k in diff)
                raise RefinetError(
                    f"{cam_path} holds other intrinsics ({shown}); one directory = one camera, "
                    f"write to another directory"
                )
        existing = [p.name for p in map(self._final, KINDS) if p.exists()]
        if existing and not self.overwrite:
            raise RefinetError(
                f"{self.root}: {', '.join(existing)} already exist; "
                f"choose another directory or overwrite them (synth --overwrite)"
            )
        return self.root.exists()

    def __enter__(self) -> ItopWriter:
        self._root_existed = self._check_target()
        self.root.mkdir(parents=True, exist_ok=True)
        self._stack = contextlib.ExitStack()
        try:
            for kind in self.kinds:
                tmp = self._stack.enter_context(atomic_path(self._final(kind)))
                self._files[kind] = h5py.File(tmp, "w")
                self._create_datasets(kind, self._files[kind])
        except BaseException as exc:
            self.__exit__(type(exc), exc, exc.__traceback__)
            raise
        return self

    def _create_datasets(self, kind: str, f: h5py.File) -> None:
        """Empty resizable datasets in ITOP's layout, and the provenance attributes."""
        h, w = self.camera.shape
        f.create_dataset("id", (0,), h5py.string_dtype("ascii"), maxshape=(None,), chunks=(1024,))
        image: dict[str, tuple[str, tuple[int, ...], type]] = {  # one compressed chunk per frame
            "depth_map": ("data", (h, w), np.float16),
            "point_cloud": ("data", (h * w, 3), np.float16),
            "labels": ("segmentation", (h, w), np.int8),
        }
        key, shape, dtype = image[kind]
        f.create_dataset(key, (0, *shape), dtype, maxshape=(None, *shape), chunks=(1, *shape), **self._filter)
        for key, (shape, dtype) in (_LABEL_COLUMNS.items() if kind == "labels" else ()):
            f.create_dataset(key, (0, *shape), dtype, maxshape=(None, *shape), chunks=(1024, *shape))
        for key, value in self.attrs.items():
            try:
                f.attrs[key] = value
            except (TypeError, ValueError) as exc:
                raise RefinetError(
                    f"ItopWriter attrs[{key!r}] = {value!r} cannot be stored in HDF5 ({exc})"
                ) from None

    def append(
        self, ids: list[str], depth_m: np.ndarray, joints_m: np.ndarray, uv_px: np.ndarray,
        visible: np.ndarray, segmentation: np.ndarray | None, is_valid: np.ndarray | None = None,
    ) -> None:
        """Append B frames.

        Args:
            ids: B ids ``'SS_FFFFF'`` (2-digit subject, ``_``, frame number).
            depth_m: ``(B, H, W)`` metres, 0 = no depth (stored as float16).
            joints_m: ``(B, 15, 3)`` camera frame (y down), metres.
            uv_px: ``(B, 15, 2)`` pixels.  visible: ``(B, 15)`` bool.
            segmentation: ``(B, H, W)`` int8 body-part labels, -1 = background;
                None writes -1 everywhere.
            is_valid: ``(B,)`` bool or 0/1; None means all valid.
        """
        if self._stack is None:
            raise RuntimeError("ItopWriter.append outside its `with` block")
        columns = self._columns(list(ids), depth_m, joints_m, uv_px, visible, segmentation, is_valid)
        b = len(ids)
        for kind, f in self._files.items():
            for key, ds in f.items():
                ds.resize(self.count + b, axis=0)
                ds[self.count :] = columns["point_cloud" if kind == "point_cloud" and key == "data" else key]
        self.count += b

    def _columns(
        self, ids: list[str], depth_m: Any, joints_m: Any, uv_px: Any, visible: Any,
        segmentation: Any, is_valid: Any,
    ) -> dict[str, np.ndarray]:
        """Check one batch and convert it to the stored dtypes and ITOP's y-up frame."""
        b, (h, w) = len(ids), self.camera.shape
        bad_id = next((i for i in ids if not isinstance(i, str) or not _ID_PATTERN.match(i)), None)
        if bad_id is not None:
            raise RefinetError(
                f"ItopWriter.append: id {bad_id!r} is not 'SS_FFFFF' (2-digit subject, '_', frame number)"
            )
        depth_m = _shaped("depth_m", depth_m, (b, h, w))
        if not np.all(np.isfinite(depth_m)) or np.any(depth_m < 0):
            raise RefinetError("ItopWriter.append: depth_m must be finite and >= 0 (0 = no depth)")
        if segmentation is None:
            segmentation = np.full((b, h, w), -1, np.int8)
        seg = _shaped("segmentation", segmentation, (b, h, w))
        if seg.dtype.kind == "f" or (seg.size and (seg.min() < -128 or seg.max() > 127)):
            raise RefinetError(
                f"ItopWriter.append: segmentation must be int8 labels (-1 = background), got {seg.dtype}"
            )
        valid = np.ones(b) if is_valid is None else _shaped("is_valid", is_valid, (b,))
        depth16 = depth_m.astype(np.float16)
        columns = {
            "id": np.array(ids, dtype=object),
            "data": depth16,
            "segmentation": seg.astype(np.int8),
            "is_valid": (valid != 0).astype(np.uint8),
            "visible_joints": (_shaped("visible", visible, (b, NUM_JOINTS)) != 0).astype(np.int16),
            "image_coordinates": _shaped("uv_px", uv_px, (b, NUM_JOINTS, 2)).astype(np.float32),
            "real_world_coordinates": camera_to_itop(_shaped("joints_m", joints_m, (b, NUM_JOINTS, 3))),
        }
        if "point_cloud" in self.kinds:  # from the stored float16 depth, as the reader deprojects it
            points = [camera_to_itop(self.camera.depth_to_points(d)) for d in depth16]
            columns["point_cloud"] = np.stack(points)
        return columns

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        for f in self._files.values():
            f.close()
        self._files = {}
        stack, self._stack = self._stack, None
        if stack is None:
            return
        if exc_type is not None:
            self._discard(stack, exc_type, exc, tb)
            return
        if self.count == 0:
            self._discard(stack, RefinetError, RefinetError("no frames"), None)
            raise RefinetError(f"ItopWriter: no frames appended for {self._final('labels')}; nothing saved")
        stack.close()  # renames every temporary file to its final name
        stale = self._final("point_cloud")
        if "point_cloud" not in self.kinds and stale.exists():
            stale.unlink()
        if not (self.root / CAMERA_FILE).is_file():
            write_json(self.root / CAMERA_FILE, self.camera.to_dict())

    def _discard(self, stack: contextlib.ExitStack, exc_type: type[BaseException], exc: BaseException | None,
                 tb: Any) -> None:
        """Remove the temporary files (and ``root`` if this writer created it and it is empty)."""
        stack.__exit__(exc_type, exc, tb)
        if not self._root_existed:
            with contextlib.suppress(OSError):
                self.root.rmdir()


def _shaped(name: str, value: Any, shape: tuple[int, ...]) -> np.ndarray:
    arr = np.asarray(value)
    if arr.shape != shape:
        raise RefinetError(f"ItopWriter.append: {name} has shape {arr.shape}, expected {shape}")
    if arr.dtype.kind not in "biuf":
        raise RefinetError(f"ItopWriter.append: {name} has dtype {arr.dtype}, expected numbers")
    return arr
