"""Run the pre-processing kernels: :class:`GpuPreprocessor` (lifting, patches, points on one CUDA device).

Each step takes the depth straight from the camera, ``depth (F, H, W)``:
uint16 raw units (scaled by ``depth_scale``, default ``camera.depth_scale``,
inside the kernel) or float32 metres (float64 is cast to float32 first, rule 1
of the contracts). People index their frame with ``frame_of (B,)`` (default
``arange(B)``, one frame per person), so several people share one depth map
without copies. Inputs are NumPy arrays (copied in and out, synchronised) or
torch CUDA tensors (outputs are tensors enqueued on torch's current stream).
Results equal :mod:`refinet_edge.lifting`, :mod:`refinet_edge.preprocess.patches`
and :mod:`refinet_edge.preprocess.points` run on
``depth_from_raw(depth, depth_scale)``, bit for bit, except authors-mode
float64 means (summation order; tolerance 1e-6).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..camera import Camera
from ..errors import RefinetError
from ..lifting import window_sizes
from ..preprocess.patches import PatchConfig
from ..preprocess.points import PointConfig
from .compiler import kernel_image
from .io import HostOperands, TorchOperands, is_torch_cuda
from .layer import CudaLayer, get_layer

BLOCK = 256  # REFINET_BLOCK in refinet_common.cuh
MAX_LIFT_JOINTS = 64  # REFINET_MAX_JOINTS in lifting.cu
MAX_SIDES = 65  # REFINET_MAX_SIDES in points.cu
MAX_SHARED_BYTES = 48 * 1024
GPU_PATCH_MODES = ("metric", "itop_authors")
DEFAULT_PATCHES, DEFAULT_POINTS = PatchConfig(), PointConfig()  # frozen dataclasses
_STEMS = {"lift": "lifting", "patches": "patches", "frame": "patches", "sample": "points"}

P, I32, F32, F64 = np.uint64, np.int32, np.float32, np.float64


def depth_from_raw(depth: np.ndarray, depth_scale: float) -> np.ndarray:
    """The kernels' reading of a depth map as float32 metres: uint16 ``raw * float32(scale)``, float as float32."""
    depth = np.asarray(depth)
    if depth.dtype == np.uint16:
        return depth.astype(np.float32) * np.float32(depth_scale)
    return depth.astype(np.float32)


class GpuPreprocessor:
    """The kernels on one device through one CUDA layer (``auto``, ``cuda-python`` or ``pycuda``).

    Compiles (or loads from the cache) each kernel file on first use. Close it
    or use ``with`` to free the stream and modules.
    """

    def __init__(self, layer: str | CudaLayer = "auto", device: int = 0) -> None:
        self.layer = get_layer(layer, device) if isinstance(layer, str) else layer
        self._stream = self.layer.create_stream()
        self._modules: dict[str, object] = {}
        self._functions: dict[str, object] = {}

    def __enter__(self) -> GpuPreprocessor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.layer.destroy_stream(self._stream)
        self.layer.close()

    def describe(self) -> str:
        """E.g. ``CUDA kernels on NVIDIA H100 (sm_90) via cuda-python``."""
        return f"CUDA kernels on {self.layer.device_name} ({self.layer.arch}) via {self.layer.name}"

    def function(self, name: str) -> object:
        """The kernel ``name`` (e.g. ``lift_u16``), compiling its file on first use."""
        if name not in self._functions:
            stem = _STEMS[name.split("_")[0]]
            if stem not in self._modules:
                module = self.layer.prebuilt_module(stem)
                if module is None:
                    module = self.layer.load_module(kernel_image(stem, self.layer.arch))
                self._modules[stem] = module
            self._functions[name] = self.layer.get_function(self._modules[stem], name)
        return self._functions[name]

    # ------------------------------------------------------------ plumbing

    def _operands(self, *values: Any) -> HostOperands | TorchOperands:
        devices = {v.device for v in values if is_torch_cuda(v)}
        if not devices:
            return HostOperands(self.layer, self._stream)
        if len(devices) > 1:
            raise RefinetError(f"all tensors must be on one CUDA device, got {sorted(map(str, devices))}")
        return TorchOperands(devices.pop())

    def _depth(self, ops: HostOperands | TorchOperands, depth: Any, camera: Camera,
               depth_scale: float | None) -> tuple[int, str, float, int]:
        shape = tuple(depth.shape)
        if len(shape) != 3 or shape[1:] != camera.shape:
            raise RefinetError(f"depth must be (F, H, W) with (H, W) = camera {camera.name!r} {camera.shape}, "
                               f"got {shape}")
        raw = str(depth.dtype).endswith("uint16")
        if not raw and "float" not in str(depth.dtype):
            raise RefinetError(f"depth must be uint16 raw units or float metres, got {depth.dtype}")
        scale = float(camera.depth_scale if depth_scale is None else depth_scale)
        if not raw and depth_scale not in (None, 1.0):
            raise RefinetError(f"depth_scale={depth_scale} applies to uint16 raw depth only; this depth is "
                               f"{depth.dtype} metres (did you mean to pass the raw uint16 frame?)")
        ptr = ops.input(depth, np.uint16 if raw else np.float32)
        return ptr, "u16" if raw else "f32", scale if raw else 1.0, shape[0]

    def _frames(self, ops: HostOperands | TorchOperands, frame_of: Any, people: int, frames: int) -> int:
        index = np.arange(people) if frame_of is None else np.asarray(
            frame_of.cpu() if hasattr(frame_of, "cpu") else frame_of)
        if index.shape != (people,) or (people and (index.min() < 0 or index.max() >= frames)):
            raise RefinetError(f"frame_of must be ({people},) frame indices in [0, {frames}); got {index.tolist()}"
                               if index.size < 20 else f"frame_of must be ({people},) indices in [0, {frames})")
        return ops.input(index, np.int32)

    def _launch(self, name: str, grid: tuple[int, int, int], shared: int, stream: int, *args: np.generic) -> None:
        if max(grid[1:]) > 65535:
            raise RefinetError(f"{name}: grid {grid} exceeds 65535 people or joints; split the batch")
        self.layer.launch(self.function(name), grid, (BLOCK, 1, 1), shared, stream, args)

    @staticmethod
    def _shape(value: Any, last: int, what: str) -> tuple[int, int]:
        shape = tuple(value.shape)
        if len(shape) != 3 or shape[-1] != last:
            raise RefinetError(f"{what} must be (B, J, {last}), got {shape}")
        return shape[0], shape[1]

    # ------------------------------------------------------------ steps

    def lift_joints(self, uv_px: Any, depth: Any, camera: Camera, *, frame_of: Any = None, window: int = 9,
                    grow_steps: int = 2, depth_scale: float | None = None) -> tuple[Any, Any]:
        """``uv_px (B, J, 2)`` -> ``(joints_m (B, J, 3) float64, depth_source (B, J) int8)`` (lifting rule)."""
        sizes = window_sizes(window, grow_steps)
        people, joints = self._shape(uv_px, 2, "uv_px")
        if joints > MAX_LIFT_JOINTS or max(sizes) ** 2 * 4 > MAX_SHARED_BYTES:
            raise RefinetError(f"GPU lifting supports <= {MAX_LIFT_JOINTS} joints and windows <= 110 px; got "
                               f"{joints} joints, window sizes {sizes}")
        ops = self._operands(uv_px, depth)
        try:
            d, sfx, scale, frames = self._depth(ops, depth, camera, depth_scale)
            args = (P(d), F32(scale), P(self._frames(ops, frame_of, people, frames)), I32(camera.height),
                    I32(camera.width), P(ops.input(uv_px, np.float64)), I32(joints),
                    P(ops.input(np.array(sizes), np.int32)), I32(len(sizes)), F64(camera.fx), F64(camera.fy),
                    F64(camera.cx), F64(camera.cy), P(ops.output((people, joints, 3), np.float64)),
                    P(ops.output((people, joints), np.int8)))
            if people and joints:
                self._launch(f"lift_{sfx}", (people, 1, 1), max(sizes) ** 2 * 4, ops.stream, *args)
        except BaseException:
            ops.release()
            raise
        joints_m, source = ops.finish()
        return joints_m, source

    def extract_patches(self, depth: Any, uv_px: Any, z_ref_m: Any, camera: Camera,
                        cfg: PatchConfig = DEFAULT_PATCHES, *, frame_of: Any = None,
                        depth_scale: float | None = None) -> tuple[Any, Any]:
        """``uv_px (B, J, 2)``, ``z_ref_m (B, J)`` -> ``(patches (B, J, S, S), cell_px (B, J, 2))`` float32."""
        if cfg.mode not in GPU_PATCH_MODES:
            raise RefinetError(f"GPU patches support modes {', '.join(GPU_PATCH_MODES)}; {cfg.mode!r} runs on "
                               "the CPU path (refinet_edge.preprocess.extract_patches)")
        people, joints = self._shape(uv_px, 2, "uv_px")
        size = cfg.size
        ops = self._operands(depth, uv_px, z_ref_m)
        try:
            d, sfx, scale, frames = self._depth(ops, depth, camera, depth_scale)
            head = (P(d), F32(scale), P(self._frames(ops, frame_of, people, frames)), I32(camera.height),
                    I32(camera.width), P(ops.input(uv_px, np.float32)))
            out = (P(ops.output((people, joints, size, size), np.float32)),
                   P(ops.output((people, joints, 2), np.float32)))
            grid = (-(-size * size // BLOCK), joints, people)
            args: tuple[np.generic, ...]
            if cfg.mode == "metric":
                if z_ref_m is None or tuple(z_ref_m.shape) != (people, joints):
                    raise RefinetError(f"metric patches need z_ref_m ({people}, {joints}), got "
                                       f"{None if z_ref_m is None else tuple(z_ref_m.shape)}")
                args = head + (P(ops.input(z_ref_m, np.float32)), I32(joints), I32(size), F32(cfg.metric_side_m),
                               F32(cfg.depth_range_m), F32(camera.fx), F32(camera.fy)) + out
                name = f"patches_metric_{sfx}"
            else:
                mean = ops.scratch(4 * max(frames, 1))
                if frames:
                    self._launch(f"frame_mean_{sfx}", (frames, 1, 1), 0, ops.stream, P(d), F32(scale),
                                 I32(camera.height), I32(camera.width), P(mean))
                args = head + (P(mean), I32(joints), I32(size), F32(cfg.itop_mean), F32(cfg.itop_std)) + out
                name = f"patches_itop_{sfx}"
            if people and joints:
                self._launch(name, grid, 0, ops.stream, *args)
        except BaseException:
            ops.release()
            raise
        patches, cell_px = ops.finish()
        return patches, cell_px

    def sample_points(self, depth: Any, joints_m: Any, camera: Camera, cfg: PointConfig = DEFAULT_POINTS, *,
                      frame_of: Any = None, depth_scale: float | None = None) -> tuple[Any, Any, Any]:
        """``joints_m (B, J, 3)`` -> ``(points (B, J, N, 3), counts (B, J), side_m (B, J))`` float32.

        The cube (``cfg.ray_reach`` 1) or rule 4b's ray region (``ray_reach`` > 1), as on the CPU path.
        """
        people, joints = self._shape(joints_m, 3, "joints_m")
        halves = cfg.half_sides_m
        if len(halves) > MAX_SIDES:
            raise RefinetError(f"GPU point sampling supports <= {MAX_SIDES} cube sides, got {len(halves)}")
        n = cfg.num_points
        ops = self._operands(depth, joints_m)
        try:
            d, sfx, scale, frames = self._depth(ops, depth, camera, depth_scale)
            args = (P(d), F32(scale), P(self._frames(ops, frame_of, people, frames)), I32(camera.height),
                    I32(camera.width), P(ops.input(joints_m, np.float32)), I32(joints),
                    P(ops.input(halves, np.float32)),
                    P(ops.input(np.array(cfg.sides_m, dtype=np.float32), np.float32)), I32(len(halves)),
                    I32(cfg.min_points), I32(n), I32(cfg.selection == "first"), I32(cfg.mode == "authors"),
                    F32(camera.fx), F32(camera.fy), F32(camera.cx), F32(camera.cy), F32(cfg.ray_reach),
                    P(ops.output((people, joints, n, 3), np.float32)), P(ops.output((people, joints), np.float32)),
                    P(ops.output((people, joints), np.float32)))
            if people and joints:
                self._launch(f"sample_points_{sfx}", (joints, people, 1), 0, ops.stream, *args)
        except BaseException:
            ops.release()
            raise
        points, counts, side_m = ops.finish()
        return points, counts, side_m
