"""One shim over the two TensorRT flavours: ``tensorrt`` (10.x/11.x) and ``tensorrt_rtx`` (TensorRT for RTX).

Both share their class names (Builder, OnnxParser, Runtime, ...); what differs,
and where this toolkit handles it:

============================  ===========================  ===================================
area                          tensorrt 10/11               tensorrt-rtx 1.x
============================  ===========================  ===================================
import                        ``import tensorrt``          ``import tensorrt_rtx``
strong typing                 ``STRONGLY_TYPED`` flag      always on: ``create_network(0)``
timing cache                  kept beside the engines      none (deprecated, no effect)
build targets                 the local GPU                compute capabilities (``--target``);
                                                           default: a portable set, CPU-only
runtime                       ``create_execution_context`` + ``create_runtime_config()``, a
                                                           runtime cache for its JIT kernels
engine check before loading   the sidecar only             + ``Runtime.get_engine_validity``
============================  ===========================  ===================================

:func:`load` picks a flavour (``auto``: TensorRT first, then TensorRT-RTX) and
imports it; nothing here imports either at import time.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass
from types import ModuleType

from refinet_edge.errors import RefinetError

TENSORRT, RTX = "tensorrt", "tensorrt-rtx"
FLAVOURS = (TENSORRT, RTX)  # auto's order
RUNTIMES = ("auto", *FLAVOURS)
MODULES = {TENSORRT: "tensorrt", RTX: "tensorrt_rtx"}
# ComputeCapability members of TensorRT-RTX 1.7 (SM87 Jetson and SM90 Hopper are not among them)
RTX_TARGETS = ("7.5", "8.0", "8.6", "8.9", "12.0", "12.1")
# What a default (portable, CPU-only) RTX build covers: Ampere and later, per NVIDIA's CPU-only AOT page
RTX_DEFAULT_TARGETS = ("8.0", "8.6", "8.9", "12.0", "12.1")
INSTALL_HINTS = {
    TENSORRT: "on an x86-64 machine with an NVIDIA GPU run `pip install 'refinet-edge[tensorrt]'` (the tensorrt and "
              "cuda-python wheels); on a Jetson use the TensorRT that JetPack ships (`sudo apt install "
              "python3-libnvinfer`, JetPack 6 = TensorRT 10)",
    RTX: "for RTX desktops, laptops and workstations run `pip install 'refinet-edge[tensorrt-rtx]'` (builds without "
         "a GPU; x86-64 Linux and Windows only)",
}


@dataclass(frozen=True)
class TrtApi:
    """An imported TensorRT flavour: ``flavour`` (tensorrt | tensorrt-rtx), its module and version."""

    flavour: str
    module: ModuleType
    version: str

    @property
    def rtx(self) -> bool:
        return self.flavour == RTX

    @property
    def label(self) -> str:
        return f"{'TensorRT-RTX' if self.rtx else 'TensorRT'} {self.version}"


def is_installed(flavour: str) -> bool:
    """True when the flavour's package can be imported (no GPU touched; the stubs alone do not count)."""
    try:
        spec = importlib.util.find_spec(MODULES[flavour])
    except (ImportError, ValueError):
        return False
    return spec is not None and spec.origin is not None  # tensorrt-stubs alone make a namespace package


def installed_flavours() -> list[str]:
    return [f for f in FLAVOURS if is_installed(f)]


def parse_runtime(runtime: str) -> str:
    """``auto``, ``tensorrt`` or ``tensorrt-rtx`` (``rtx``/``tensorrt_rtx`` accepted); a hint otherwise."""
    name = runtime.strip().lower().replace("_", "-")
    name = RTX if name == "rtx" else name
    if name not in RUNTIMES:
        raise RefinetError(f"--runtime {runtime!r}: expected one of {', '.join(RUNTIMES)}")
    return name


def resolve(runtime: str = "auto") -> str:
    """The flavour ``runtime`` names, or for ``auto`` the first one installed; says how to install otherwise."""
    name = parse_runtime(runtime)
    if name != "auto":
        if not is_installed(name):
            raise RefinetError(f"{name} is not installed: {INSTALL_HINTS[name]}")
        return name
    found = installed_flavours()
    if not found:
        raise RefinetError("TensorRT is not installed: " + "; or ".join(INSTALL_HINTS[f] for f in FLAVOURS))
    return found[0]


def load(runtime: str = "auto") -> TrtApi:
    """Import the flavour :func:`resolve` picks; a one-line error when it is a placeholder or lacks its libraries."""
    flavour = resolve(runtime)
    try:
        module = importlib.import_module(MODULES[flavour])
    except ImportError as exc:  # the PyPI placeholder or missing CUDA libraries
        raise RefinetError(f"`import {MODULES[flavour]}` failed ({exc}); {INSTALL_HINTS[flavour]}") from None
    version = getattr(module, "__version__", None)
    if version is None or not hasattr(module, "Builder"):
        raise RefinetError(f"the `{MODULES[flavour]}` package here holds no TensorRT ({module.__file__}); "
                           f"{INSTALL_HINTS[flavour]}")
    return TrtApi(flavour, module, str(version))


def parse_targets(targets: str | None, flavour: str) -> tuple[str, ...]:
    """``--target``: empty for the default (TensorRT: the local GPU; RTX: the portable set), else RTX compute
    capabilities such as ``8.9`` or ``8.6,12.0``. ``flavour``: the ``--runtime`` asked for (``auto`` included)."""
    if targets is None or targets.strip() in ("", "default"):
        return ()
    if flavour == TENSORRT:  # "auto" may still pick TensorRT: build_plan checks the flavour it builds with
        raise RefinetError(f"--target {targets}: TensorRT builds for the GPU it runs on; build targets are a "
                           f"TensorRT-RTX option (did you mean --runtime tensorrt-rtx?)")
    chosen = tuple(t.strip().removeprefix("sm_").removeprefix("SM") for t in targets.split(",") if t.strip())
    chosen = tuple(t if "." in t else f"{t[:-1]}.{t[-1]}" for t in chosen)
    unknown = [t for t in chosen if t not in RTX_TARGETS]
    if unknown:
        raise RefinetError(f"--target {', '.join(unknown)}: TensorRT-RTX builds for compute capabilities "
                           f"{', '.join(RTX_TARGETS)} (Jetson 8.7 and Hopper 9.0 need TensorRT: --runtime tensorrt)")
    return chosen


def target_member(cc: str) -> str:
    """The ``ComputeCapability`` member name of an RTX target: ``8.9`` -> ``SM89``."""
    return "SM" + cc.replace(".", "")
