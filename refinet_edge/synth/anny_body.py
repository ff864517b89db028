"""Anny bodies (NAVER LABS Europe's parametric human mesh, PyPI ``anny``): shape, pose, ITOP joints.

Needs the ``synth`` extra (``pip install 'refinet-edge[synth]'``); nothing here
imports ``anny`` or ``torch`` until a subject's mesh is built, and
``import refinet_edge`` never does. Anny gives, per subject, the rest mesh
(13,718 vertices, 27,420 triangles), the rest bone heads (104 bones) and the
linear-blend-skinning weights; posing and skinning are done here in NumPy, so
NVIDIA Warp's skinning kernels are never compiled (``Anny(skinning_method="lbs")``).

Frames: Anny's rest frame is z up, metres, facing -y with its left at +x; it is
turned 180 degrees about z into the generator's body frame (x to the person's
right, y forward, z up; :mod:`.poses`) and moved so the hip centre (midpoint
of the two ``upperleg01`` heads) is the origin.

Shape (per subject, from ``SeedSequence(seed, spawn_key=(2, subject))``, the
six phenotype values in Anny's 0-1 units): ``gender`` U(0, 1); ``age``: a child
(U(0.38, 0.55), about 8-15 years) with probability 0.15, else an adult to elder
U(0.6, 1.0); ``muscle`` U(0.1, 0.9); ``weight`` U(0.05, 0.95) (thin to heavy);
``height`` U(0.2, 0.8); ``proportions`` U(0.2, 0.8). Stature is what the mesh
measures, not set: over 48 subjects of seed 7, 1.44-2.13 m (10-90 %: 1.52-1.99 m).

Cost: ``import anny`` and ``Anny(skinning_method="lbs")`` take a few seconds once
per process, but the very first ``Anny()`` on a machine builds Anny's model data
into ``~/.cache/anny`` (``ANNY_CACHE_DIR``; about 830 MB) and takes minutes of CPU;
later processes load it. Pool workers inherit the parent's subjects (fork).

Pose mapping (our :class:`.poses.Pose` -> a world-frame rotation per Anny bone,
each bone turning about its own posed head, heads carried by the parent):

=====================================  ===============================================
Anny bones                             rotation (names as in :func:`.poses.forward_kinematics`)
=====================================  ===============================================
root, pelvis.*                         identity (the pelvis is the fixed body frame)
spine05, spine04, spine03              ``r_lower`` (below the torso joint)
spine02, spine01, clavicle.*,          ``r_upper``
shoulder01.*, neck01
neck02, neck03, head, eye.*            ``r_head``
upperarm01/02                          ``r_arm`` @ C (C turns the rest upper arm to hang straight down)
lowerarm01/02, wrist, metacarpals,     ``r_arm @ rot_x(elbow)`` @ C' (C': rest forearm to straight down)
fingers
upperleg01/02                          ``r_leg`` @ C (rest thigh to straight down)
lowerleg01/02                          ``r_shin`` @ C' (rest shin to straight down)
foot, toes                             ``r_foot`` @ C' (the foot keeps its rest angle to the shin)
=====================================  ===============================================

ITOP joints from the posed bones and vertices (ITOP marks joint centres):
head = centre of the bounding box of the vertices skinned mostly to ``head``/``eye``
in the rest pose, carried by the ``head`` bone; neck = head of
``neck01`` (base of the neck); shoulder = head of ``upperarm01``; elbow = head
of ``lowerarm01``; hand = midpoint of the ``wrist`` head and the ``finger3-1``
head (centre of the palm); torso = centroid of the vertices skinned mostly to
``spine03``/``spine02`` (a ring around the mid-trunk, so inside the body);
hip = head of ``upperleg01``; knee = head of ``lowerleg01``; foot = head of
``foot`` (the ankle, as for our own bodies).

Labels: every vertex takes the ITOP part of its heaviest bone (:data:`PART_OF_BONE`);
a triangle takes its first vertex's label.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ..errors import RefinetError
from .mesh_kernels import kernels_for
from .poses import Pose, rot_x, rot_y, rot_z

INSTALL_HINT = "pip install 'refinet-edge[synth]'"
_TO_BODY = np.diag([-1.0, -1.0, 1.0])  # Anny rest frame -> body frame: 180 degrees about z
_DOWN = np.array([0.0, 0.0, -1.0])
_SIDE_SIGN = np.array([-1.0, 1.0])  # as in .poses, (right, left)
SIDES = ("R", "L")


def is_available() -> bool:
    """True when the ``anny`` package imports (the ``synth`` extra)."""
    try:
        importlib.import_module("anny")
    except ImportError:
        return False
    return True


def require_anny(body: str) -> None:
    """Raise the one-line user error when ``body`` needs Anny and it is not installed."""
    if not is_available():
        raise RefinetError(f"--body {body} needs the Anny body model, which is not installed: {INSTALL_HINT}")


def _part_of_bone(name: str) -> int:
    """ITOP label of the body part an Anny bone moves (as :func:`.body.body_surfaces` labels ours)."""
    side = 0 if name.endswith(".R") else 1
    base = name.split(".")[0]
    if base in ("head", "eye", "neck02", "neck03"):
        return 0
    if base == "neck01":
        return 1
    if base in ("clavicle", "shoulder01"):
        return 2 + side
    if base.startswith("upperarm"):
        return 4 + side
    if base.startswith(("lowerarm", "wrist", "finger", "metacarpal")):
        return 6 + side
    if base.startswith("upperleg"):
        return 11 + side
    if base.startswith(("lowerleg", "foot", "toe")):
        return 13 + side
    if base == "pelvis":
        return 9 + side
    return 8  # root, spine


def _driver_of_bone(name: str) -> str:
    """Which pose rotation turns the bone (see the module's table); ``_R``/``_L`` suffix per side."""
    base, _, side = name.partition(".")
    if base in ("root", "pelvis"):
        return "fixed"
    if base in ("spine05", "spine04", "spine03"):
        return "lower"
    if base in ("spine02", "spine01", "clavicle", "shoulder01", "neck01"):
        return "upper"
    if base in ("neck02", "neck03", "head", "eye"):
        return "head"
    kind = ("arm" if base.startswith("upperarm") else
            "fore" if base.startswith(("lowerarm", "wrist", "finger", "metacarpal")) else
            "thigh" if base.startswith("upperleg") else
            "shin" if base.startswith("lowerleg") else "foot")
    return f"{kind}_{side}"


@dataclass(frozen=True)
class AnnySubject:
    """One subject's rest mesh and rig in the body frame (metres); arrays are read-only."""

    phenotype: dict[str, float]
    rest_vertices_m: np.ndarray   # (V, 3)
    faces: np.ndarray             # (F, 3) int64
    rest_heads_m: np.ndarray      # (B, 3) bone heads
    parents: np.ndarray           # (B,) parent bone, -1 for the root; parents precede children
    weights: np.ndarray           # (V, K) skinning weights (rows sum to 1)
    bone_index: np.ndarray        # (V, K) bone per weight
    weight_rows: tuple[np.ndarray, ...]  # per k, the vertices whose k-th weight is not 0
    vertex_label: np.ndarray      # (V,) ITOP part of the heaviest bone
    face_label: np.ndarray        # (F,) ITOP part of each face: vertex_label of its first vertex
    drivers: tuple[str, ...]      # (B,) see _driver_of_bone
    corrections: dict[str, np.ndarray]  # driver -> (3, 3) rest -> hanging-straight rotation
    bone: dict[str, int]          # bone name -> index
    head_centre_offset_m: np.ndarray  # (3,) rest head-centre minus the rest head-bone head
    torso_ring: np.ndarray        # (V,) bool, vertices skinned mostly to spine03/spine02
    scalp: np.ndarray             # (V,) bool, head vertices above the head centre - 2 cm, not the face
    stature_m: float
    thigh_r_m: float              # a thigh radius (for the chair under a seated subject)


def sample_phenotype(rng: np.random.Generator) -> dict[str, float]:
    """Six phenotype values within the ranges the module documents."""
    child = rng.random() < 0.15
    age = rng.uniform(0.38, 0.55) if child else rng.uniform(0.6, 1.0)
    return {"gender": float(rng.uniform(0, 1)), "age": float(age), "muscle": float(rng.uniform(0.1, 0.9)),
            "weight": float(rng.uniform(0.05, 0.95)), "height": float(rng.uniform(0.2, 0.8)),
            "proportions": float(rng.uniform(0.2, 0.8))}


@lru_cache(maxsize=1)
def _model():
    import anny

    return anny.Anny(skinning_method="lbs")


def _align(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The smallest rotation turning direction ``src`` onto ``dst``."""
    a, b = src / np.linalg.norm(src), dst / np.linalg.norm(dst)
    v, c = np.cross(a, b), float(a @ b)
    vx = np.array([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]])
    return np.eye(3) + vx + vx @ vx / (1.0 + c)


@lru_cache(maxsize=64)
def anny_subject(seed: int, subject: int) -> AnnySubject:
    """Subject ``subject`` under ``seed`` as an Anny body (cached per process)."""
    import torch

    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(2, subject)))
    rng.random()  # the draw `mixed` uses to pick the body model
    phenotype = sample_phenotype(rng)
    model = _model()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a batch of one: threads only add overhead (and oversubscribe pool workers)
    try:
        with torch.no_grad():
            out = model(phenotype_kwargs={k: torch.tensor([v], dtype=model.dtype) for k, v in phenotype.items()})
    finally:
        torch.set_num_threads(threads)
    names = list(model.bone_labels)
    bone = {n: i for i, n in enumerate(names)}
    verts = out["rest_vertices"][0].double().numpy() @ _TO_BODY.T
    heads = out["rest_bone_heads"][0].double().numpy() @ _TO_BODY.T
    centre = 0.5 * (heads[bone["upperleg01.L"]] + heads[bone["upperleg01.R"]])
    verts, heads = verts - centre, heads - centre
    weights = model.vertex_bone_weights.double().numpy()
    index = model.vertex_bone_indices.long().numpy()
    weights = weights / weights.sum(axis=1, keepdims=True)
    heaviest = index[np.arange(len(index)), np.argmax(weights, axis=1)]
    part = np.array([_part_of_bone(n) for n in names])
    corrections = {}
    for s in SIDES:
        h = {k: heads[bone[f"{k}.{s}"]] for k in ("upperarm01", "lowerarm01", "wrist", "upperleg01",
                                                  "lowerleg01", "foot")}
        corrections[f"arm_{s}"] = _align(h["lowerarm01"] - h["upperarm01"], _DOWN)
        corrections[f"fore_{s}"] = _align(h["wrist"] - h["lowerarm01"], _DOWN)
        corrections[f"thigh_{s}"] = _align(h["lowerleg01"] - h["upperleg01"], _DOWN)
        corrections[f"shin_{s}"] = corrections[f"foot_{s}"] = _align(h["foot"] - h["lowerleg01"], _DOWN)
    thigh = np.isin(heaviest, [bone["upperleg01.L"], bone["upperleg02.L"]])
    a, b = heads[bone["upperleg01.L"]], heads[bone["lowerleg01.L"]]
    axis = (b - a) / np.linalg.norm(b - a)
    rel = verts[thigh] - a
    thigh_r = float(np.median(np.linalg.norm(rel - np.outer(rel @ axis, axis), axis=1)))
    head_verts = verts[np.isin(heaviest, [bone["head"], bone["eye.L"], bone["eye.R"]])]
    head_centre = 0.5 * (head_verts.min(axis=0) + head_verts.max(axis=0))
    torso_ring = np.isin(heaviest, [bone["spine03"], bone["spine02"]])
    scalp = (np.isin(heaviest, [bone["head"]]) & (verts[:, 2] > head_centre[2] - 0.02)
             & (verts[:, 1] < head_centre[1] + 0.02))
    faces = model.get_triangular_faces().long().numpy()
    vertex_label = part[heaviest].astype(np.int16)
    face_label = vertex_label[faces[:, 0]]
    arrays = [verts, heads, weights, index, torso_ring, scalp, face_label]
    for arr in arrays:
        arr.setflags(write=False)
    return AnnySubject(
        phenotype=phenotype, rest_vertices_m=verts, faces=faces,
        rest_heads_m=heads, parents=np.asarray(model.bone_parents), weights=weights, bone_index=index,
        weight_rows=tuple(np.flatnonzero(weights[:, k] > 0) for k in range(weights.shape[1])),
        vertex_label=vertex_label, face_label=face_label, drivers=tuple(_driver_of_bone(n) for n in names),
        corrections=corrections, bone=bone, head_centre_offset_m=head_centre - heads[bone["head"]],
        torso_ring=torso_ring, scalp=scalp, stature_m=float(verts[:, 2].max() - verts[:, 2].min()),
        thigh_r_m=thigh_r)


def pose_rotations(pose: Pose) -> dict[str, np.ndarray]:
    """Body-frame segment rotations of ``pose``, the products :func:`.poses.forward_kinematics` uses."""
    r_lower = rot_x(-0.4 * pose.spine_pitch) @ rot_y(0.5 * pose.spine_lean)
    r_upper = rot_x(-pose.spine_pitch) @ rot_y(pose.spine_lean) @ rot_z(pose.spine_twist)
    rot = {"fixed": np.eye(3), "lower": r_lower, "upper": r_upper,
           "head": r_upper @ rot_z(pose.head_yaw) @ rot_x(-pose.head_pitch)}
    for side, s in enumerate(SIDES):
        sign = _SIDE_SIGN[side]
        r_arm = (r_upper @ rot_y(sign * pose.shoulder_abd[side]) @ rot_x(pose.shoulder_flex[side])
                 @ rot_z(sign * pose.arm_rot[side]))
        r_leg = rot_y(sign * pose.hip_abd[side]) @ rot_x(pose.hip_flex[side])
        r_shin = r_leg @ rot_x(-pose.knee[side])
        rot.update({f"arm_{s}": r_arm, f"fore_{s}": r_arm @ rot_x(pose.elbow[side]),
                    f"thigh_{s}": r_leg, f"shin_{s}": r_shin, f"foot_{s}": r_shin @ rot_x(pose.ankle[side])})
    return rot


@dataclass(frozen=True)
class PosedAnny:
    """A posed Anny subject in the body frame (metres)."""

    vertices_m: np.ndarray  # (V, 3)
    heads_m: np.ndarray     # (B, 3) posed bone heads
    joints_m: np.ndarray    # (15, 3) ITOP joints, the module's rule


def pose_subject(subject: AnnySubject, pose: Pose) -> PosedAnny:
    """Turn every bone by the module's table and skin the mesh (linear blend skinning)."""
    rot = pose_rotations(pose)
    n = len(subject.drivers)
    rotations = np.empty((n, 3, 3))
    offsets = np.empty((n, 3))
    heads = np.empty((n, 3))
    rest = subject.rest_heads_m
    for b, (driver, parent) in enumerate(zip(subject.drivers, subject.parents, strict=True)):
        r = rot[driver] @ subject.corrections[driver] if driver in subject.corrections else rot[driver]
        heads[b] = rest[b] if parent < 0 else rotations[parent] @ rest[b] + offsets[parent]
        rotations[b] = r
        offsets[b] = heads[b] - r @ rest[b]
    transforms = np.concatenate([rotations.reshape(n, 9), offsets], axis=1)  # (B, 12)
    verts = skin(subject, transforms)
    return PosedAnny(verts, heads, itop_joints(subject, verts, heads, rotations))


def skin(subject: AnnySubject, transforms: np.ndarray, use_numba: bool | None = None) -> np.ndarray:
    """Linear blend skinning of the rest mesh by per-bone ``transforms (B, 12)`` (R row-major, then t)
    -> ``(V, 3)``; Numba's kernel when numba imports (``use_numba`` None), else NumPy."""
    kernels = kernels_for(use_numba, "skin")
    if kernels is not None:
        out = np.empty_like(subject.rest_vertices_m)
        kernels.skin(subject.rest_vertices_m, subject.weights, subject.bone_index, transforms, out)
        return out
    blend = np.zeros((len(subject.weights), 12))
    for k in range(subject.weights.shape[1]):
        used = subject.weight_rows[k]  # vertices with a non-zero k-th weight
        blend[used] += subject.weights[used, k, None] * transforms[subject.bone_index[used, k]]
    x, y, z = subject.rest_vertices_m.T
    return np.stack([blend[:, 3 * i] * x + blend[:, 3 * i + 1] * y + blend[:, 3 * i + 2] * z + blend[:, 9 + i]
                     for i in range(3)], axis=1)


def itop_joints(subject: AnnySubject, vertices_m: np.ndarray, heads_m: np.ndarray,
                rotations: np.ndarray) -> np.ndarray:
    """The 15 ITOP joint centres from posed vertices, bone heads ``(B, 3)`` and bone rotations
    ``(B, 3, 3)`` (the module's rule) -> ``(15, 3)``."""
    bone = subject.bone
    j = np.zeros((15, 3))
    j[0] = heads_m[bone["head"]] + rotations[bone["head"]] @ subject.head_centre_offset_m
    j[1] = heads_m[bone["neck01"]]
    j[8] = vertices_m[subject.torso_ring].mean(axis=0)
    for side, s in enumerate(SIDES):
        j[2 + side] = heads_m[bone[f"upperarm01.{s}"]]
        j[4 + side] = heads_m[bone[f"lowerarm01.{s}"]]
        j[6 + side] = 0.5 * (heads_m[bone[f"wrist.{s}"]] + heads_m[bone[f"finger3-1.{s}"]])
        j[9 + side] = heads_m[bone[f"upperleg01.{s}"]]
        j[11 + side] = heads_m[bone[f"lowerleg01.{s}"]]
        j[13 + side] = heads_m[bone[f"foot.{s}"]]
    return j


def picks_anny(body: str, seed: int, subject: int) -> bool:
    """Whether ``subject`` is an Anny body: always for ``anny``, never for ``own``, and for ``mixed``
    with probability 0.5 from ``SeedSequence(seed, spawn_key=(2, subject))``'s first draw."""
    if body != "mixed":
        return body == "anny"
    return bool(np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(2, subject))).random() < 0.5)
