"""Synthetic RGB-D frames with exact ground truth, deterministic from (seed, index).

Randomness
----------
* A subject's body comes from ``SeedSequence(seed, spawn_key=(0, subject))``
  with ``subject = index % num_subjects``, so a split by subject is a split by body.
* Everything else in frame ``index`` (pose, placement, room, camera, sensor
  noise) comes from ``SeedSequence(seed, spawn_key=(1, index))``: a frame does
  not depend on which worker made it or in which order.
* With ``body="anny"``/``"mixed"``: whether a subject is an Anny body, and its
  phenotype, come from ``spawn_key=(2, subject)``, its garments from
  ``spawn_key=(3, subject)`` (:mod:`.anny_frame`); the frame stream is unchanged.
  Anny bodies take every pose mode and scene: outside the legacy setting they
  are staged by :func:`.compose.stage_frame` like own bodies (:mod:`.anny_frame`).

Visibility follows the rule documented in :mod:`.visibility`.
"""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial

import numpy as np

from ..camera import Camera, camera_preset
from ..errors import RefinetError, did_you_mean
from ..skeleton import NUM_JOINTS
from . import anny_body
from .body import BodyShape, body_shape, body_surfaces
from .compose import SCENES, pose_weights, stage_frame
from .geometry import Surface
from .pose_space import ALL_FAMILIES, POSE_MODES
from .poses import POSE_FAMILIES, BodyPoints, forward_kinematics, place_on_floor, sample_pose
from .render import render
from .scene import FIRST_OBJECT, VIEWS, CameraPose, chair_under, place_camera, scene_surfaces
from .sensor import SensorModel, apply_sensor, infrared_image, surface_cosine
from .sensor_presets import apply_sensor_model, check_sensor_name, sensor_for_frame
from .visibility import joint_visibility
from .wide_scene import WideScene

_DEFAULT_WEIGHTS = (("standing", 0.2), ("reaching", 0.25), ("crouching", 0.15), ("sitting", 0.2), ("walking", 0.2))

# own: the capsule bodies of .body; anny: Anny meshes (.anny_body, the `synth` extra);
# mixed: each subject is one or the other (deterministic from (seed, subject)).
BODIES = ("own", "anny", "mixed")


@dataclass(frozen=True)
class SynthConfig:
    """What the generator draws from; the defaults make the documented data set."""

    family_weights: tuple[tuple[str, float], ...] = _DEFAULT_WEIGHTS
    num_subjects: int = 16             # subject = index % num_subjects
    occluder_prob: float = 0.25        # side view: table or crate between camera and person
    visibility_tolerance_m: float = 0.03
    keep_clean_depth: bool = True      # also return the noiseless render
    sensor: SensorModel = field(default_factory=SensorModel)
    sensor_preset: str = "default"     # see .sensor_presets; "default" applies `sensor` above
    poses: str = "families"            # families | uniform | mixed, see synth.pose_space
    scene: str = "default"             # default | wide (side view), see synth.wide_scene
    wide: WideScene = field(default_factory=WideScene)  # ranges of the wide scene
    body: str = "own"                  # own | anny | mixed (per subject), see BODIES

    def __post_init__(self) -> None:
        check_sensor_name(self.sensor_preset)
        if self.body not in BODIES:
            raise RefinetError(f"unknown body {self.body!r}{did_you_mean(self.body, BODIES)}; "
                               f"valid bodies: {', '.join(BODIES)}")
        for name, weight in self.family_weights:
            if name not in ALL_FAMILIES or weight < 0:
                raise RefinetError(
                    f"family weight ({name!r}, {weight}): expected a non-negative weight for one of "
                    f"{', '.join(ALL_FAMILIES)}{did_you_mean(name, ALL_FAMILIES)}")
        if sum(w for _, w in self.family_weights) <= 0 or self.num_subjects < 1:
            raise RefinetError("SynthConfig needs a positive family weight and num_subjects >= 1")
        for what, value, choices in (("pose source (--poses)", self.poses, POSE_MODES),
                                     ("scene (--scene)", self.scene, SCENES)):
            if value not in choices:
                raise RefinetError(f"unknown {what} {value!r}{did_you_mean(value, choices)}; "
                                   f"valid: {', '.join(choices)}")
        if self.poses != "families" and self.family_weights != _DEFAULT_WEIGHTS:
            raise RefinetError(f"family_weights apply to poses='families' only; poses={self.poses!r} draws "
                               f"its own mixture (see refinet_edge.synth.pose_space)")

    @property
    def legacy(self) -> bool:
        """Today's generator: its five families and default scene, in today's draw order."""
        return (self.poses == "families" and self.scene == "default"
                and all(name in POSE_FAMILIES for name, _ in self.family_weights))


DEFAULT_CONFIG = SynthConfig()


@dataclass(frozen=True)
class SynthFrame:
    """One synthetic frame; 3D in the camera frame (metres, y down), see :mod:`refinet_edge.camera`."""

    index: int
    subject: int
    family: str                  # pose family: one of pose_space.ALL_FAMILIES (uniform included)
    view: str                    # "side" or "top"
    camera: Camera
    depth_m: np.ndarray          # (H, W) float32, after the sensor model, 0 = missing
    depth_clean_m: np.ndarray | None  # (H, W) float32 noiseless render, 0 = nothing hit
    ir: np.ndarray               # (H, W) uint8 infrared-like image
    segmentation: np.ndarray     # (H, W) int8: ITOP joint index of the body part, -1 = not the person
    joints_m: np.ndarray         # (15, 3) float64 joint centres
    uv_px: np.ndarray            # (15, 2) float64 exact projections of joints_m
    visible: np.ndarray          # (15,) bool, see the module's visibility rule
    world_to_camera: np.ndarray  # (4, 4) world (z up, floor z = 0) -> camera frame
    has_occluder: bool = False   # a table or crate stands between the camera and the person
    has_second_person: bool = False  # an unlabelled bystander (scene="wide")

    def __post_init__(self) -> None:
        shape = self.camera.shape
        assert self.depth_m.shape == self.ir.shape == self.segmentation.shape == shape, shape
        assert self.joints_m.shape == (NUM_JOINTS, 3) and self.uv_px.shape == (NUM_JOINTS, 2)
        assert self.visible.shape == (NUM_JOINTS,) and self.visible.dtype == bool

    @property
    def frame_id(self) -> str:
        return f"{self.subject:02d}_{self.index:05d}"


def resolve_camera(camera: Camera | str) -> Camera:
    return camera_preset(camera) if isinstance(camera, str) else camera


def check_view(view: str, config: SynthConfig = DEFAULT_CONFIG) -> str:
    if view not in VIEWS:
        raise RefinetError(
            f"unknown view {view!r}{did_you_mean(view, VIEWS)}; valid views: {', '.join(VIEWS)}")
    if config.scene == "wide" and view != "side":
        raise RefinetError(f"scene 'wide' is a side-view scene; got view {view!r} (use the default scene)")
    return view


def _albedo_table(rng: np.random.Generator) -> np.ndarray:
    """Albedo per ``label + 1`` (index 0 = nothing hit): skin, shirt, trousers, room."""
    table = rng.uniform(0.2, 0.9, 64).astype(np.float32)
    table[0] = 0.0
    skin, shirt, trousers = rng.uniform(0.5, 0.9), rng.uniform(0.15, 0.95), rng.uniform(0.15, 0.9)
    table[1 + np.arange(15)] = [skin, shirt, shirt, shirt, shirt, shirt, skin, skin, shirt,
                                trousers, trousers, trousers, trousers, trousers, trousers]
    return table


def render_frame(meta: dict, camera: Camera, cam_pose: CameraPose, body: list[Surface],
                 scene: list[Surface], joints_w: np.ndarray, rng: np.random.Generator,
                 config: SynthConfig) -> SynthFrame:
    """Render world-frame ``body`` and ``scene`` through ``cam_pose``: ground truth, sensor, IR.

    ``meta`` holds the frame's index, subject, family and view; ``rng`` drives
    the sensor noise and the albedos (and, for ``sensor_preset="random"``, the
    frame's sensor settings).
    """
    body_c = [s.moved(cam_pose.rotation, cam_pose.centre_m) for s in body]
    scene_c = [s.moved(cam_pose.rotation, cam_pose.centre_m) for s in scene]
    depth_clean, labels = render(body_c + scene_c, camera)
    joints_m = cam_pose.to_camera(joints_w)
    uv_px = camera.project(joints_m)
    visible = joint_visibility(joints_m, uv_px, depth_clean, labels, body_c, camera,
                               config.visibility_tolerance_m)
    return finish_frame(meta, camera, cam_pose, depth_clean, labels, joints_m, uv_px, visible, rng, config)


def finish_frame(meta: dict, camera: Camera, cam_pose: CameraPose, depth_clean: np.ndarray, labels: np.ndarray,
                 joints_m: np.ndarray, uv_px: np.ndarray, visible: np.ndarray, rng: np.random.Generator,
                 config: SynthConfig) -> SynthFrame:
    """Sensor model, IR image and the frame, from a clean render (``labels`` as :func:`.render.render`'s)."""
    person = (labels >= 0) & (labels < NUM_JOINTS)
    cos = surface_cosine(depth_clean, camera)
    if config.sensor_preset == "default":  # this order of rng draws keeps the original data sets bit for bit
        depth = apply_sensor(depth_clean, camera, config.sensor, rng, cos)
        albedo = _albedo_table(rng)[labels + 1]
    else:  # a named preset, or a `random` draw from this frame's rng
        sensor = sensor_for_frame(config.sensor_preset, rng)
        albedo = _albedo_table(rng)[labels + 1]
        depth = apply_sensor_model(sensor, depth_clean, camera, rng, cos, albedo)
    ir = infrared_image(depth_clean, albedo, person, cos, config.sensor, rng)
    return SynthFrame(
        camera=camera, depth_m=depth, depth_clean_m=depth_clean if config.keep_clean_depth else None,
        ir=ir, segmentation=np.where(person, labels, -1).astype(np.int8), joints_m=joints_m,
        uv_px=uv_px, visible=visible, world_to_camera=cam_pose.world_to_camera, **meta,
    )


def posed_body(body: BodyShape, points: BodyPoints) -> list[Surface]:
    """The surface of ``body`` posed at ``points`` (same frame as the points)."""
    return body_surfaces(body, points.joints, points.heels, points.toes)


def generate_frame(index: int, *, seed: int, camera: Camera | str = "itop_side", view: str = "side",
                   config: SynthConfig = DEFAULT_CONFIG) -> SynthFrame:
    """Frame ``index`` of the synthetic set ``seed`` (deterministic from the two)."""
    if config.body != "own":
        anny_body.require_anny(config.body)
    return _frame(index, seed=seed, camera=resolve_camera(camera), view=check_view(view, config), config=config)


def _frame(index: int, *, seed: int, camera: Camera, view: str, config: SynthConfig) -> SynthFrame:
    """:func:`generate_frame` once its settings are checked (by it, or once by :func:`generate_frames`)."""
    subject = index % config.num_subjects
    if anny_body.picks_anny(config.body, seed, subject):
        from .anny_frame import generate_anny_frame

        return generate_anny_frame(index, subject, seed=seed, camera=camera, view=view, config=config)
    body = body_shape(seed, subject)
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(1, index)))
    if not config.legacy:
        staged = stage_frame(rng, body, camera, view, pose_weights(config.poses, config.family_weights),
                             config.scene, config.occluder_prob, config.wide)
        meta = {"index": index, "subject": subject, "family": staged.family, "view": view,
                "has_occluder": staged.has_occluder, "has_second_person": staged.has_second_person}
        return render_frame(meta, camera, staged.cam_pose, staged.body, staged.scene, staged.joints_w, rng, config)
    names, weights = zip(*config.family_weights, strict=True)
    family = str(names[rng.choice(len(names), p=np.array(weights) / sum(weights))])
    pose = sample_pose(rng, family)
    yaw_deg = rng.uniform(0.0, 360.0)
    points = place_on_floor(body, forward_kinematics(body, pose), yaw_deg, np.zeros(2))
    cam_pose = place_camera(rng, camera, view, points.joints)
    seat = None
    if family == "sitting":
        seat = chair_under(points.joints, body.hip_r_m, body.thigh_r_m, np.radians(yaw_deg + 90.0), rng,
                           label=FIRST_OBJECT)
    layout = scene_surfaces(rng, view, cam_pose, points.joints, seat, config.occluder_prob)
    meta = {"index": index, "subject": subject, "family": family, "view": view,
            "has_occluder": layout.has_occluder}
    return render_frame(meta, camera, cam_pose, posed_body(body, points), layout.surfaces,
                        points.joints, rng, config)


def generate_frames(n: int, *, seed: int, camera: Camera | str = "itop_side", view: str = "side",
                    start: int = 0, workers: int = 1,
                    config: SynthConfig = DEFAULT_CONFIG) -> Iterator[SynthFrame]:
    """Frames ``start .. start + n - 1`` in index order; ``workers > 1`` uses a process pool.

    Settings are checked here, before the first frame is asked for.
    """
    if n < 0 or start < 0 or workers < 1:
        raise RefinetError(f"generate_frames needs n >= 0, start >= 0 and workers >= 1; "
                           f"got n={n}, start={start}, workers={workers}")
    make = partial(_frame, seed=seed, camera=resolve_camera(camera), view=check_view(view, config), config=config)
    context = mp.get_context()  # the platform's default start method, as the pool below uses
    if config.body != "own":
        anny_body.require_anny(config.body)
        if workers > 1 and n > 1 and context.get_start_method() == "fork":
            # built once here and inherited by the forked workers (spawned or forkserver workers
            # would not inherit them: each builds the subjects it meets, cached per process)
            for k in range(min(config.num_subjects, n)):
                subject = (start + k) % config.num_subjects
                if anny_body.picks_anny(config.body, seed, subject):
                    anny_body.anny_subject(seed, subject)
    return _frames(make, range(start, start + n), workers, context)


def _frames(make: Callable[[int], SynthFrame], indices: range, workers: int,
            context: mp.context.BaseContext) -> Iterator[SynthFrame]:
    if workers == 1 or len(indices) < 2:
        yield from map(make, indices)
        return
    with context.Pool(min(workers, len(indices))) as pool:
        chunk = max(1, min(16, len(indices) // (4 * workers)))
        yield from pool.imap(make, indices, chunksize=chunk)
