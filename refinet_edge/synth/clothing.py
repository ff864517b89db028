"""Clothing and hair proxies for mesh bodies: offset shells and swept surfaces (they change depth, not joints).

Per subject an :class:`Outfit` is drawn (from ``SeedSequence(seed, spawn_key=(3, subject))``):

* hair: none (p 0.25), short (offset 0.5-1.5 cm, p 0.45) or voluminous (2-5 cm, p 0.3), a shell
  over the scalp: head vertices above the rest head centre minus 2 cm and not on the face;
* top: none (p 0.15), a shirt shell over trunk, shoulders and upper arms (0.4-1.2 cm, p 0.6) or a
  coat (2-4 cm, p 0.25) with a swept hem 25-55 cm long below the waist, flaring 3-10 cm;
* bottom: bare/tight (p 0.2), trousers (a leg shell 0.4-1.5 cm, incl. shoes, p 0.55) or a skirt
  (p 0.25; swept, 30-60 cm below the waist, flaring 4-15 cm).

A shell moves the part's vertices out along their normals and reuses its
triangles and labels. A swept surface (skirt, coat hem) is an open tube of
rings about the body's vertical axis, from the waist (8 cm above the hip
centre) down: each ring's radius per direction is the body's own extent at
that height and direction (legs, hips, trunk; not the arms) plus 1 cm, or the
flared hem profile, whichever is larger. Its triangles take the label of the
nearest of the torso, hip and knee joints. A skirt on a seated or crouching
body drapes over the thighs as a tube (a proxy, not cloth simulation).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .mesh_kernels import kernels_for

HAIR_LABELS = (0,)
TOP_LABELS = (2, 3, 4, 5, 8)
BOTTOM_LABELS = (9, 10, 11, 12, 13, 14)
_HEM_JOINTS = np.array([8, 9, 10, 11, 12])
_WAIST_M = 0.08
_RINGS, _SEGMENTS = 10, 36


@dataclass(frozen=True)
class Outfit:
    """One subject's garments; offsets, lengths and flares in metres (0 = none)."""

    hair_m: float = 0.0
    top_m: float = 0.0
    trousers_m: float = 0.0
    hem_length_m: float = 0.0  # skirt or coat hem below the waist
    hem_flare_m: float = 0.0

    def thickness_m(self) -> np.ndarray:
        """``(15,)`` shell thickness over each ITOP joint's part."""
        t = np.zeros(15)
        t[list(HAIR_LABELS)] = self.hair_m
        t[list(TOP_LABELS)] = self.top_m
        t[list(BOTTOM_LABELS)] = self.trousers_m
        return t


def sample_outfit(rng: np.random.Generator) -> Outfit:
    """Draw garments with the module's probabilities and ranges."""
    hair = rng.choice(3, p=[0.25, 0.45, 0.3])
    hair_m = (0.0, rng.uniform(0.005, 0.015), rng.uniform(0.02, 0.05))[hair]
    top = rng.choice(3, p=[0.15, 0.6, 0.25])
    top_m = (0.0, rng.uniform(0.004, 0.012), rng.uniform(0.02, 0.04))[top]
    hem_length, hem_flare = (rng.uniform(0.25, 0.55), rng.uniform(0.03, 0.10)) if top == 2 else (0.0, 0.0)
    bottom = rng.choice(3, p=[0.2, 0.55, 0.25])
    trousers_m = rng.uniform(0.004, 0.015) if bottom == 1 else 0.0
    if bottom == 2 and hem_length == 0.0:
        hem_length, hem_flare = rng.uniform(0.3, 0.6), rng.uniform(0.04, 0.15)
    return Outfit(float(hair_m), float(top_m), float(trousers_m), float(hem_length), float(hem_flare))


@lru_cache(maxsize=64)
def subject_outfit(seed: int, subject: int) -> Outfit:
    return sample_outfit(np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(3, subject))))


def vertex_normals(vertices_m: np.ndarray, faces: np.ndarray, use_numba: bool | None = None) -> np.ndarray:
    """Area-weighted unit vertex normals, oriented away from the mesh centroid on average
    (summed by a Numba kernel when numba imports and ``use_numba`` is not False)."""
    kernels = kernels_for(use_numba, "vertex_normals")
    if kernels is not None:
        normals = np.empty_like(vertices_m, dtype=np.float64)
        kernels.face_normal_sum(np.ascontiguousarray(vertices_m, np.float64), np.ascontiguousarray(faces, np.int64),
                                normals)
    else:
        p = vertices_m[faces]
        face_n = np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0])
        corner = faces.ravel()
        normals = np.stack([np.bincount(corner, np.repeat(face_n[:, i], 3), len(vertices_m)) for i in range(3)], 1)
    normals = normals / np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-12)
    if float(((vertices_m - vertices_m.mean(axis=0)) * normals).sum()) < 0:
        normals = -normals
    return normals


@dataclass(frozen=True)
class Shell:
    """The triangles of one offset shell: body vertices ``used (n,)``, ``faces (m, 3)`` indexing ``used``,
    ``labels (m,)``, and the offset along the normals (metres)."""

    offset_m: float
    used: np.ndarray
    faces: np.ndarray
    labels: np.ndarray


def outfit_shells(faces: np.ndarray, vertex_label: np.ndarray, scalp: np.ndarray, outfit: Outfit,
                  face_label: np.ndarray | None = None) -> list[Shell]:
    """The shells of ``outfit`` on a mesh (topology only: computed once per subject); ``face_label (F,)``,
    the part of each face's first vertex, is computed from ``vertex_label`` when not given."""
    face_labels = vertex_label[faces[:, 0]] if face_label is None else face_label
    shells = []
    for offset, chosen in ((outfit.hair_m, scalp), (outfit.top_m, np.isin(vertex_label, TOP_LABELS)),
                           (outfit.trousers_m, np.isin(vertex_label, BOTTOM_LABELS))):
        if offset > 0:
            keep = chosen[faces].all(axis=1)
            used = np.unique(faces[keep])
            remap = np.full(len(vertex_label), -1)
            remap[used] = np.arange(len(used))
            shells.append(Shell(offset, used, remap[faces[keep]], face_labels[keep]))
    return shells


def _swept(vertices_m: np.ndarray, vertex_label: np.ndarray, joints_m: np.ndarray, length_m: float,
           flare_m: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The open tube of the module's swept surface (body frame, z up)."""
    body = vertices_m[(vertex_label >= 8) | (vertex_label <= 1)]
    heights = _WAIST_M - length_m * np.linspace(0.0, 1.0, _RINGS)
    step = length_m / (_RINGS - 1)
    angles = 2 * np.pi * np.arange(_SEGMENTS) / _SEGMENTS
    rings = np.empty((_RINGS, _SEGMENTS, 3))
    centre = np.zeros(2)
    radius = np.full(_SEGMENTS, 0.1)
    for level, z in enumerate(heights):
        slab = body[np.abs(body[:, 2] - z) <= 0.5 * step + 0.02]
        if len(slab):
            if level == 0:
                centre = slab[:, :2].mean(axis=0)
            rel = slab[:, :2] - centre
            bins = (np.arctan2(rel[:, 1], rel[:, 0]) % (2 * np.pi) * _SEGMENTS / (2 * np.pi)).astype(int)
            extent = np.zeros(_SEGMENTS)
            np.maximum.at(extent, bins % _SEGMENTS, np.linalg.norm(rel, axis=1))
            extent = np.maximum(extent, np.roll(extent, 1))  # close gaps between bins
            extent = np.maximum(extent, np.roll(extent, -1))
            if level == 0:
                radius = extent + 0.01
            radius = np.maximum(radius, extent + 0.01)
        ring_r = radius + flare_m * level / (_RINGS - 1)
        rings[level] = np.stack([centre[0] + ring_r * np.cos(angles), centre[1] + ring_r * np.sin(angles),
                                 np.full(_SEGMENTS, z)], axis=1)
    verts = rings.reshape(-1, 3)
    i, k = np.meshgrid(np.arange(_RINGS - 1), np.arange(_SEGMENTS), indexing="ij")
    a, b = i * _SEGMENTS + k, i * _SEGMENTS + (k + 1) % _SEGMENTS
    c, d = a + _SEGMENTS, b + _SEGMENTS
    faces = np.concatenate([np.stack([a, b, c], -1).reshape(-1, 3), np.stack([b, d, c], -1).reshape(-1, 3)])
    centroids = verts[faces].mean(axis=1)
    nearest = np.argmin(np.linalg.norm(centroids[:, None] - joints_m[_HEM_JOINTS][None], axis=-1), axis=1)
    return verts, faces, _HEM_JOINTS[nearest].astype(np.int16)


def dress(vertices_m: np.ndarray, faces: np.ndarray, vertex_label: np.ndarray, shells: list[Shell],
          joints_m: np.ndarray, outfit: Outfit) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The garments' triangles for a posed body (body frame): ``(vertices (N, 3), faces (M, 3), labels (M,))``.

    Args:
        vertex_label: ``(V,)`` ITOP part per body vertex; shells: :func:`outfit_shells` of this mesh and outfit.
    """
    parts = []
    if shells:
        normals = vertex_normals(vertices_m, faces)
        parts = [(vertices_m[sh.used] + sh.offset_m * normals[sh.used], sh.faces, sh.labels) for sh in shells]
    if outfit.hem_length_m > 0:
        parts.append(_swept(vertices_m, vertex_label, joints_m, outfit.hem_length_m, outfit.hem_flare_m))
    verts, tris, labels, base = [], [], [], 0
    for v, f, lab in parts:
        verts.append(v)
        tris.append(f + base)
        labels.append(lab)
        base += len(v)
    if not parts:
        return np.zeros((0, 3)), np.zeros((0, 3), np.int64), np.zeros(0, np.int16)
    return np.concatenate(verts), np.concatenate(tris), np.concatenate(labels).astype(np.int16)
