"""Names in an ITOP-layout directory, shared by the reader and the writer.

One directory holds ``ITOP_{view}_{file_split}_{kind}.h5`` for view ``side|top``,
file split ``train|test`` and kind ``depth_map|labels|point_cloud``, plus an
optional ``camera.json`` (:meth:`Camera.to_dict`)::

    depth_map.h5    id (N,) b'SS_FFFFF'         data (N, H, W) float16 metres, 0 = no depth
    point_cloud.h5  id (N,)                     data (N, H*W, 3) float16 metres, y up, scan order
    labels.h5       id (N,)  is_valid (N,)  visible_joints (N, 15)
                    image_coordinates (N, 15, 2) px   real_world_coordinates (N, 15, 3) m, y up
                    segmentation (N, H, W) int8, -1 = background

Ids are ``subject_frame``: a 2-digit subject, ``_``, a frame number (``'04_00123'``).
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import RefinetError, did_you_mean

VIEWS = ("side", "top")
SPLITS = ("train", "val", "test")
FILE_SPLITS = ("train", "test")
KINDS = ("depth_map", "labels", "point_cloud")
VAL_SUBJECTS = ("04", "05")
CAMERA_FILE = "camera.json"


def check_choice(value: str, valid: tuple[str, ...], what: str) -> str:
    """Return ``value`` if valid, else raise naming the valid ones (with a did-you-mean hint)."""
    if value not in valid:
        raise RefinetError(
            f"unknown ITOP {what} {value!r}{did_you_mean(str(value), valid)}; valid: {', '.join(valid)}"
        )
    return value


def itop_path(root: str | os.PathLike[str], view: str, file_split: str, kind: str) -> Path:
    """``root/ITOP_{view}_{file_split}_{kind}.h5`` (arguments checked)."""
    check_choice(view, VIEWS, "view")
    check_choice(file_split, FILE_SPLITS, "file split")
    check_choice(kind, KINDS, "file kind")
    return Path(root) / f"ITOP_{view}_{file_split}_{kind}.h5"


def subject_of(frame_id: str) -> str:
    """Subject part of an ITOP id: ``'04_00123'`` -> ``'04'``."""
    return frame_id.split("_", 1)[0]
