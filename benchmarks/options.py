"""Comma-separated list options of the bench verbs (``--backend torch,onnxruntime``, ``--batch 1,2,4,8``),
checked in one place, and the choices of ``bench-kernels`` (light to import: its ``--help`` lists them)."""

from __future__ import annotations

from refinet_edge.errors import RefinetError, did_you_mean

# bench-kernels (:mod:`.preprocess`): its camera presets (resolutions) and implementations
KERNEL_CAMERAS = ("itop_side", "d435_640x480", "d435_848x480")
KERNEL_IMPLS = ("reference", "naive", "fast", "numba", "cuda", "cuda-dev", "torch-cuda")


def parse_list(text: str, allowed: tuple[str, ...], what: str) -> tuple[str, ...]:
    """``"torch,onnxruntime"`` -> a tuple, each checked against ``allowed`` with a did-you-mean hint."""
    items = tuple(x.strip() for x in text.split(",") if x.strip())
    for item in items:
        if item not in allowed:
            raise RefinetError(f"{what}: unknown {item!r}; choose from {', '.join(allowed)}"
                               f"{did_you_mean(item, allowed)}")
    if not items:
        raise RefinetError(f"{what}: empty list; choose from {', '.join(allowed)}")
    return items


def parse_ints(text: str, what: str) -> tuple[int, ...]:
    """``"1,2,4,8"`` -> a tuple of positive integers."""
    try:
        values = tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise RefinetError(f"{what} must be comma-separated positive integers like 1,2,4,8, got {text!r}") from None
    if not values or min(values) <= 0:
        raise RefinetError(f"{what} must be comma-separated positive integers like 1,2,4,8, got {text!r}")
    return values
