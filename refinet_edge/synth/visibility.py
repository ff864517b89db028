"""Per-joint visibility from a clean render.

Rule
----
Joint j is **visible** when

1. its 2D projection rounds to a pixel inside the image,
2. the clean render at that pixel shows the person (label 0-14), and
3. the first surface along that pixel's ray is at most ``tolerance_m`` (3 cm)
   in front of where the ray enters the joint's *own neighbourhood*: the
   joint's share of every body part whose volume contains the joint centre,
   i.e. a sphere of the limb's radius centred on the joint for each capsule,
   and for each ellipsoid the ellipsoid moved to be centred on the joint.

So an occluder, another body part, or the far end of a foreshortened limb
that lies more than ~3 cm in front of the joint's own surface hides the joint
(self-occlusion), while a joint seen through its own flesh is visible. For a
visible joint, ``z_joint - depth`` is at most the part's radius (or largest
semi-axis) plus 3 cm.
"""

from __future__ import annotations

import numpy as np

from ..camera import Camera
from ..skeleton import NUM_JOINTS
from .geometry import Capsule, Ellipsoid, Surface
from .render import pixel_ray_depths, ray_grid


def _sphere_entry(centres_m: np.ndarray, radii_m: np.ndarray, dx: np.ndarray, dy: np.ndarray,
                  dd: np.ndarray) -> np.ndarray:
    """Depth where rays ``(dx, dy, 1)`` enter spheres (inf where they miss) -> ``(n,)``."""
    b = dx * centres_m[:, 0] + dy * centres_m[:, 1] + centres_m[:, 2]
    h = b * b - dd * ((centres_m**2).sum(-1) - radii_m**2)
    with np.errstate(invalid="ignore"):
        t = (b - np.sqrt(h)) / dd
    return np.where((h >= 0) & (radii_m > 0), t, np.inf)


def joint_visibility(joints_m: np.ndarray, uv_px: np.ndarray, depth_clean_m: np.ndarray,
                     labels: np.ndarray, body: list[Surface], camera: Camera,
                     tolerance_m: float = 0.03) -> np.ndarray:
    """Apply the module's rule -> ``visible (15,) bool``.

    Args:
        joints_m: ``(15, 3)`` camera frame; uv_px: ``(15, 2)`` their projections.
        depth_clean_m, labels: ``(H, W)`` clean render (see :func:`.render.render`).
        body: the body's surfaces in the camera frame.
    """
    assert joints_m.shape == (NUM_JOINTS, 3) and uv_px.shape == (NUM_JOINTS, 2)
    visible = np.zeros(NUM_JOINTS, dtype=bool)
    inside = np.flatnonzero(camera.in_image(uv_px) & (joints_m[:, 2] > 0))
    if inside.size == 0:
        return visible
    joints = joints_m[inside]  # (n, 3)
    pixels = np.rint(uv_px[inside]).astype(int)
    u, v = pixels[:, 0], pixels[:, 1]
    dx, dy, dd = ray_grid(camera)
    dxp, dyp, ddp = dx[0, u], dy[v, 0], dd[v, u]

    capsules = [s for s in body if isinstance(s, Capsule)]
    cap_radius = np.zeros(len(joints))
    for capsule in capsules:
        cap_radius = np.maximum(cap_radius, np.where(capsule.contains(joints), capsule.radius_m, 0.0))
    entry = _sphere_entry(joints, cap_radius, dxp, dyp, ddp)
    for surface in body:
        if isinstance(surface, Ellipsoid):
            for k in np.flatnonzero(surface.contains(joints)):
                local = Ellipsoid(joints[k], surface.axes_m, surface.label)
                entry[k] = min(entry[k], float(pixel_ray_depths([local], camera, pixels[k:k + 1])[0, 0]))
    # Where the rounded pixel's ray slips past the joint's neighbourhood, assume 5 cm.
    entry = np.where(np.isfinite(entry), entry, joints[:, 2] - 0.05)
    on_person = (labels[v, u] >= 0) & (labels[v, u] < NUM_JOINTS)
    visible[inside] = on_person & (depth_clean_m[v, u] >= entry - tolerance_m)
    return visible
