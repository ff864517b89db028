"""Write one frame of a ``refinet-edge live --video`` file as a PNG (the README's picture).

    python scripts/video_frame_png.py runs/pic/walk.mp4 45 docs/images/live_synthetic.png --width 640

The frame is what ``live`` drew (image | depth | 3D view; 2D skeleton green, refined 3D red), optionally
scaled down to ``--width`` pixels and written with the highest PNG compression.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2


def frame_png(video: Path, index: int, out: Path, width: int | None = None) -> tuple[int, int]:
    """Write frame ``index`` (0-based) of ``video`` to ``out``; returns its (height, width)."""
    capture = cv2.VideoCapture(str(video))
    try:
        capture.set(cv2.CAP_PROP_POS_FRAMES, index)
        ok, image = capture.read()
    finally:
        capture.release()
    if not ok:
        raise SystemExit(f"error: {video} has no frame {index}")
    if width is not None and image.shape[1] > width:
        height = round(image.shape[0] * width / image.shape[1])
        image = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
    out.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(out), image, [cv2.IMWRITE_PNG_COMPRESSION, 9]):
        raise SystemExit(f"error: could not write {out}")
    return image.shape[0], image.shape[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("video", type=Path)
    parser.add_argument("index", type=int)
    parser.add_argument("out", type=Path)
    parser.add_argument("--width", type=int, default=None, help="scale down to this width (px)")
    args = parser.parse_args()
    print(frame_png(args.video, args.index, args.out, args.width))


if __name__ == "__main__":
    main()
