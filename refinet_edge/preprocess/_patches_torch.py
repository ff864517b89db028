"""Torch twin of :mod:`refinet_edge.preprocess.patches` (gather-based, CPU or CUDA, no loop over B).

Imported only when :func:`refinet_edge.preprocess.patches.extract_patches_torch` is
called, so ``import refinet_edge`` never needs torch. Same float32 operations,
in the same order, as the NumPy contract (torch ``round`` = half to even).
"""

from __future__ import annotations

import torch

from ..errors import RefinetError
from ._common import F32
from .patches import TORCH_PATCH_MODES, PatchConfig, cell_offsets


def extract_patches_torch(depth: torch.Tensor, uv: torch.Tensor, z_ref: torch.Tensor | None,
                          fx: float | None, fy: float | None,
                          cfg: PatchConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """See :func:`refinet_edge.preprocess.patches.extract_patches_torch`."""
    if cfg.mode not in TORCH_PATCH_MODES:
        raise RefinetError(f"extract_patches_torch supports modes {', '.join(TORCH_PATCH_MODES)}, not "
                           f"{cfg.mode!r}; use extract_patches (NumPy) for it")
    if depth.dim() != 3 or uv.dim() != 3 or uv.shape[-1] != 2 or uv.shape[0] != depth.shape[0]:
        raise RefinetError(f"extract_patches_torch expects depth (B, H, W) and uv (B, J, 2); "
                           f"got {tuple(depth.shape)} and {tuple(uv.shape)}")
    depth = depth.to(torch.float32)
    depth = torch.where(torch.isfinite(depth) & (depth > 0), depth, torch.zeros_like(depth))
    uv = uv.to(device=depth.device, dtype=torch.float32)
    if cfg.mode == "metric":
        if z_ref is None or fx is None or fy is None:
            raise RefinetError("metric patches need z_ref (B, J) and the focal lengths fx, fy; got None")
        if tuple(z_ref.shape) != tuple(uv.shape[:2]):
            raise RefinetError(f"z_ref must have shape {tuple(uv.shape[:2])}, got {tuple(z_ref.shape)}")
        return _metric(depth, uv, z_ref.to(device=depth.device, dtype=torch.float32), fx, fy, cfg)
    return _itop_authors(depth, uv, cfg)


def _const(value: float, like: torch.Tensor) -> torch.Tensor:
    """A 0-dim float32 tensor holding float32(value) on ``like``'s device."""
    return torch.tensor(float(F32(value)), dtype=torch.float32, device=like.device)


def _gather(depth: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
    """``depth (B, H, W)``, ``rows, cols (B, J, S)`` in-image -> ``(B, J, S, S)`` (row r, column c)."""
    batch, height, width = depth.shape
    num_joints, size = rows.shape[1], rows.shape[2]
    flat = rows[..., :, None] * width + cols[..., None, :]  # (B, J, S, S)
    values = depth.reshape(batch, height * width).gather(1, flat.reshape(batch, num_joints * size * size))
    return values.reshape(batch, num_joints, size, size)


def _index(pixels: torch.Tensor, limit: int) -> tuple[torch.Tensor, torch.Tensor]:
    inside = (pixels >= 0) & (pixels <= limit - 1)  # NaN -> False
    return torch.where(inside, pixels, torch.zeros_like(pixels)).long(), inside


def _metric(depth: torch.Tensor, uv: torch.Tensor, z_ref: torch.Tensor, fx: float, fy: float,
            cfg: PatchConfig) -> tuple[torch.Tensor, torch.Tensor]:
    height, width = depth.shape[1:]
    valid = torch.isfinite(uv).all(dim=-1) & torch.isfinite(z_ref) & (z_ref > 0)  # (B, J)
    z = torch.where(valid, z_ref, torch.ones_like(z_ref))
    den = z * _const(cfg.size, z)
    num_u = _const(float(F32(cfg.metric_side_m) * F32(fx)), z)  # float32 product, as in NumPy
    num_v = _const(float(F32(cfg.metric_side_m) * F32(fy)), z)
    cell = torch.stack([num_u / den, num_v / den], dim=-1)  # (B, J, 2)
    centre = torch.where(valid[..., None], uv, torch.zeros_like(uv))
    offsets = torch.from_numpy(cell_offsets(cfg.size)).to(depth.device)
    samples = torch.round(centre[..., None] + offsets * cell[..., None])  # (B, J, 2, S)
    cols, col_ok = _index(samples[:, :, 0], width)
    rows, row_ok = _index(samples[:, :, 1], height)
    d = _gather(depth, rows, cols)
    ok = row_ok[..., :, None] & col_ok[..., None, :] & (d > 0) & valid[..., None, None]
    value = torch.clamp((d - z[..., None, None]) / _const(cfg.depth_range_m, d), -1.0, 1.0)
    patches = torch.where(ok, value, torch.ones_like(value))
    cell_px = torch.where(valid[..., None], cell, torch.full_like(cell, float("nan")))
    return patches, cell_px


def _itop_authors(depth: torch.Tensor, uv: torch.Tensor, cfg: PatchConfig) -> tuple[torch.Tensor, torch.Tensor]:
    batch, height, width = depth.shape
    size = cfg.size
    valid = torch.isfinite(uv).all(dim=-1)  # (B, J)
    start = torch.trunc(torch.where(valid[..., None], uv, torch.zeros_like(uv)))
    start = torch.clamp(start, -size, max(height, width) + size).long() - size // 2  # (B, J, 2)
    steps = torch.arange(size, device=depth.device)
    cols, rows = start[..., 0, None] + steps, start[..., 1, None] + steps  # (B, J, S)
    col_ok, row_ok = (cols >= 0) & (cols < width), (rows >= 0) & (rows < height)
    window = _gather(depth, rows.clamp(0, height - 1), cols.clamp(0, width - 1))
    inside = row_ok[..., :, None] & col_ok[..., None, :] & valid[..., None, None]
    window = torch.where(inside, window, torch.zeros_like(window))
    map_mean = depth.to(torch.float64).mean(dim=(1, 2)).to(torch.float32)  # (B,)
    filled = torch.where(window == 0, map_mean[:, None, None, None].expand_as(window), window)
    patches = (filled - _const(cfg.itop_mean, filled)) / _const(cfg.itop_std, filled)
    ones = torch.ones(valid.shape + (2,), dtype=torch.float32, device=depth.device)
    cell_px = torch.where(valid[..., None], ones, torch.full_like(ones, float("nan")))
    return patches, cell_px
