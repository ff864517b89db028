"""Write docs/images/synth_anny_depth.png: six Anny frames' sensor depth (seed 0, 320x240, side view).

    python scripts/anny_depth_png.py docs/images/synth_anny_depth.png
"""

from __future__ import annotations

import sys

import cv2
import numpy as np

from refinet_edge.synth import SynthConfig, generate_frame
from refinet_edge.synth.anny_body import anny_subject
from refinet_edge.synth.clothing import subject_outfit


def main(path: str) -> None:
    config = SynthConfig(body="anny")
    tiles = []
    for index in (0, 1, 3, 5, 9, 12):
        frame = generate_frame(index, seed=0, config=config)
        depth = frame.depth_m
        shown = np.where(depth > 0, 255 - np.clip((depth - 0.5) / 5.0, 0, 1) * 230, 0).astype(np.uint8)
        tile = shown
        body, outfit = anny_subject(0, frame.subject), subject_outfit(0, frame.subject)
        garments = "skirt/coat" if outfit.hem_length_m else "no hem"
        cv2.putText(tile, f"{frame.family}, {body.stature_m:.2f} m, {garments}", (4, 14),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.38, 255, 1, cv2.LINE_AA)
        tiles.append(tile)
    grid = np.concatenate([np.concatenate(tiles[:3], axis=1), np.concatenate(tiles[3:], axis=1)], axis=0)
    cv2.imwrite(path, grid, [cv2.IMWRITE_PNG_COMPRESSION, 9])


if __name__ == "__main__":
    main(sys.argv[1])
