"""Compile the ``.cu`` kernels at run time for the GPU in the machine, cached on disk per architecture.

The compiler is NVRTC through ``cuda.bindings.nvrtc`` (no GPU needed to
compile); without cuda-python, ``nvcc`` on PATH does the same job. Images are
cached as ``<cache>/<arch>/<stem>-<hash>.<cubin|ptx>``, where ``<cache>`` is
``$REFINET_EDGE_KERNEL_CACHE`` or ``$XDG_CACHE_HOME/refinet-edge/kernels``
(default ``~/.cache/refinet-edge/kernels``) and the hash covers the source, the
shared header, the options and the compiler version, so an edit or an upgrade
never loads a stale image. An architecture newer than the compiler knows gets
PTX for the newest one it does, which the driver compiles on load.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tempfile
import time
from importlib import resources
from pathlib import Path

from ..errors import RefinetError

KERNEL_SOURCES = ("patches.cu", "lifting.cu", "points.cu")
HEADER = "refinet_common.cuh"
# No fused multiply-add: the contracts are one IEEE float32 operation at a time.
OPTIONS = ("--fmad=false", "--std=c++17")


def source_text(name: str) -> str:
    """The text of a packaged kernel source or header."""
    return resources.files("refinet_edge.kernels").joinpath(name).read_text(encoding="utf-8")


def source_dir() -> Path:
    """Directory of the packaged ``.cu`` files (for nvcc's ``-I``)."""
    return Path(str(resources.files("refinet_edge.kernels")))


def cache_root() -> Path:
    """Root of the on-disk kernel cache (see the module docstring)."""
    if os.environ.get("REFINET_EDGE_KERNEL_CACHE"):
        return Path(os.environ["REFINET_EDGE_KERNEL_CACHE"])
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "refinet-edge" / "kernels"


def arch_number(arch: str) -> int:
    """``"sm_87"`` -> 87."""
    match = re.fullmatch(r"sm_(\d+)", arch)
    if not match:
        raise RefinetError(f"GPU architecture must look like 'sm_87', got {arch!r}")
    return int(match.group(1))


def compiler_available() -> str | None:
    """``"nvrtc"`` when cuda-python's NVRTC loads, else ``"nvcc"`` when on PATH, else None."""
    try:
        from cuda.bindings import nvrtc

        if nvrtc.nvrtcVersion()[0] == nvrtc.nvrtcResult.NVRTC_SUCCESS:
            return "nvrtc"
    except Exception:  # noqa: BLE001 - ImportError, or the NVRTC library is missing
        pass
    return "nvcc" if shutil.which("nvcc") else None


def kernel_image(stem: str, arch: str, compiler: str | None = None, use_cache: bool = True) -> bytes:
    """The compiled image (cubin, or PTX for an architecture the compiler does not know) of ``<stem>.cu``."""
    compiler = compiler or compiler_available()
    if compiler is None:
        raise RefinetError("no CUDA compiler: install cuda-python with NVRTC (pip install 'cuda-python>=12.6' "
                           "nvidia-cuda-nvrtc) or put nvcc on PATH")
    source = source_text(f"{stem}.cu")
    header = source_text(HEADER)
    version = _compiler_version(compiler)
    key = hashlib.sha256("\0".join([source, header, *OPTIONS, arch, compiler, version]).encode()).hexdigest()[:16]
    folder = cache_root() / arch
    for suffix in ("cubin", "ptx"):
        cached = folder / f"{stem}-{key}.{suffix}"
        if use_cache and cached.is_file():
            return cached.read_bytes()
    start = time.perf_counter()
    if compiler == "nvrtc":
        image, suffix = nvrtc_compile(source, f"{stem}.cu", arch, {HEADER: header})
    else:
        image, suffix = nvcc_compile(stem, arch), "cubin"
    if use_cache:
        _write_atomic(folder / f"{stem}-{key}.{suffix}", image)
    _log(f"compiled {stem}.cu for {arch} with {compiler} ({suffix}, {len(image)} bytes) in "
         f"{time.perf_counter() - start:.2f} s")
    return image


def nvrtc_compile(source: str, name: str, arch: str, headers: dict[str, str]) -> tuple[bytes, str]:
    """Compile with NVRTC; returns ``(image, "cubin" | "ptx")``. Raises with the compiler log on failure."""
    from cuda.bindings import nvrtc

    number = arch_number(arch)
    supported = list(_nvrtc_check(nvrtc.nvrtcGetSupportedArchs(), "nvrtcGetSupportedArchs")[0])
    older = [a for a in supported if a <= number]
    if not older:
        raise RefinetError(f"NVRTC supports {', '.join(f'sm_{a}' for a in supported)}; the GPU is {arch}")
    real = number in supported
    target = f"--gpu-architecture={'sm' if real else 'compute'}_{number if real else max(older)}"
    (prog,) = _nvrtc_check(nvrtc.nvrtcCreateProgram(source.encode(), name.encode(), len(headers),
                                                    [h.encode() for h in headers.values()],
                                                    [n.encode() for n in headers]), "nvrtcCreateProgram")
    try:
        options = [target.encode()] + [o.encode() for o in OPTIONS]
        result = nvrtc.nvrtcCompileProgram(prog, len(options), options)
        if result[0] != nvrtc.nvrtcResult.NVRTC_SUCCESS:
            raise RefinetError(f"NVRTC could not compile {name} for {arch}: {_nvrtc_name(result[0])}\n"
                               f"{_nvrtc_log(prog)}")
        get_size, get = (nvrtc.nvrtcGetCUBINSize, nvrtc.nvrtcGetCUBIN) if real else \
            (nvrtc.nvrtcGetPTXSize, nvrtc.nvrtcGetPTX)
        (size,) = _nvrtc_check(get_size(prog), get_size.__name__)
        image = b" " * size
        _nvrtc_check(get(prog, image), get.__name__)
    finally:
        _nvrtc_check(nvrtc.nvrtcDestroyProgram(prog), "nvrtcDestroyProgram")
    return (image, "cubin") if real else (image.rstrip(b"\0"), "ptx")


def _nvrtc_check(result: tuple, what: str) -> tuple:
    from cuda.bindings import nvrtc

    if result[0] != nvrtc.nvrtcResult.NVRTC_SUCCESS:
        raise RefinetError(f"{what} failed: {_nvrtc_name(result[0])}")
    return result[1:]


def _nvrtc_name(err: object) -> str:
    from cuda.bindings import nvrtc

    from ._cuda_python import result_name

    return result_name(nvrtc.nvrtcResult, err)


def _nvrtc_log(prog: object) -> str:
    from cuda.bindings import nvrtc

    (size,) = _nvrtc_check(nvrtc.nvrtcGetProgramLogSize(prog), "nvrtcGetProgramLogSize")
    log = b" " * size
    _nvrtc_check(nvrtc.nvrtcGetProgramLog(prog, log), "nvrtcGetProgramLog")
    return log.rstrip(b"\0").decode(errors="replace")


def nvcc_compile(stem: str, arch: str, ptx: bool = False, extra: tuple[str, ...] = ()) -> bytes:
    """Compile ``<stem>.cu`` with nvcc to a cubin (or PTX); raises with nvcc's output on failure."""
    nvcc = shutil.which("nvcc")
    if nvcc is None:
        raise RefinetError("nvcc is not on PATH")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / f"{stem}.{'ptx' if ptx else 'cubin'}"
        target = f"-arch=compute_{arch_number(arch)}" if ptx else f"-arch={arch}"
        command = [nvcc, "--ptx" if ptx else "--cubin", target, *OPTIONS, *extra, "-I", str(source_dir()),
                   "-o", str(out), str(source_dir() / f"{stem}.cu")]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RefinetError(f"nvcc could not compile {stem}.cu for {arch}:\n{done.stdout}{done.stderr}")
        return out.read_bytes()


def _compiler_version(compiler: str) -> str:
    if compiler == "nvrtc":
        from cuda.bindings import nvrtc

        return ".".join(str(v) for v in _nvrtc_check(nvrtc.nvrtcVersion(), "nvrtcVersion"))
    done = subprocess.run(["nvcc", "--version"], capture_output=True, text=True, check=False)
    return done.stdout.strip().splitlines()[-1] if done.stdout.strip() else "nvcc"


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _log(message: str) -> None:
    import logging

    logging.getLogger("refinet_edge.kernels").info(message)
