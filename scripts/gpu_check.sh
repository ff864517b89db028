#!/usr/bin/env bash
# GPU check for the CUDA pre-processing kernels (issue 4), in one call on a machine with an NVIDIA GPU.
#
#   scripts/gpu_check.sh [OUT_DIR]        # default: $OUT, else /tmp/refinet-gpu-check
#
# Runs from the repository root without installing the package. Prints the
# machine and versions, then: kernel compilation (nvcc and NVRTC), the CUDA
# layer tests, every `gpu` test (parity of each kernel with the CPU path
# through cuda-python and pycuda where installed, torch CUDA tensors, error
# codes, compute-sanitizer memcheck/racecheck/synccheck/initcheck), and the
# benchmark (fast CPU vs CUDA, and torch CUDA ops where torch has CUDA).
# Needs python3 with numpy, h5py, pytest, hypothesis and cuda-bindings (any
# wheels in ./wheels are installed offline first: a machine without network
# can get them carried in, e.g. `pip download --no-deps -d wheels cuda-bindings
# cuda-pathfinder nvidia-cuda-nvrtc` for its Python version, about 65 MB). Writes gpu_check.log,
# pytest-gpu.xml and bench.json to OUT_DIR. Exit status: that of the GPU tests.
set -u
cd "$(dirname "$0")/.."
OUT_DIR="${1:-${OUT:-/tmp/refinet-gpu-check}}"
mkdir -p "$OUT_DIR"
exec > >(tee "$OUT_DIR/gpu_check.log") 2>&1
export REFINET_EDGE_REQUIRE_GPU="${REFINET_EDGE_REQUIRE_GPU:-1}"  # a CUDA layer that cannot start fails (tests/fixtures/gpu.py)
export REFINET_EDGE_KERNEL_CACHE="${REFINET_EDGE_KERNEL_CACHE:-$OUT_DIR/kernel-cache}"
PY="${PYTHON:-python3}"

echo "== machine ($(date -u +%FT%TZ))"
nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv 2>&1 | head -5
command -v nvcc >/dev/null && nvcc --version | tail -1
command -v compute-sanitizer >/dev/null && echo "compute-sanitizer: $(command -v compute-sanitizer)" \
  || echo "compute-sanitizer: not on PATH (sanitizer tests will skip)"
if compgen -G "wheels/*.whl" >/dev/null; then  # e.g. cuda-bindings, cuda-pathfinder, nvidia-cuda-nvrtc
  "$PY" -m pip install -q --no-index --find-links wheels wheels/*.whl 2>&1 | tail -2
fi
"$PY" - <<'PYEOF'
import importlib, platform
print("python", platform.python_version())
for name in ("numpy", "h5py", "pytest", "hypothesis", "torch", "cuda.bindings", "pycuda"):
    try:
        module = importlib.import_module(name)
        print(f"{name:14s}", getattr(module, "__version__", "installed"))
    except Exception as err:  # noqa: BLE001 - report and go on
        print(f"{name:14s} MISSING ({type(err).__name__}: {err})")
try:
    import torch
    print("torch cuda", torch.cuda.is_available(), torch.version.cuda)
except Exception:  # noqa: BLE001
    pass
from refinet_edge.kernels import installed_layers, is_available
for layer in installed_layers():
    print(f"layer {layer}: available={is_available(layer)}")
PYEOF

echo "== compile and layer tests"
"$PY" -m pytest -q -p no:cacheprovider tests/test_kernels_compile.py tests/test_kernels_layer.py

echo "== GPU tests"
"$PY" -m pytest -q -p no:cacheprovider -m gpu -rs --junitxml="$OUT_DIR/pytest-gpu.xml" \
  tests/test_kernels_gpu.py tests/test_preprocess_patches.py
status=$?

echo "== benchmark"
timeout 240 "$PY" -m benchmarks.preprocess --people 1 8 --repeats 200 --ref-repeats 1 \
  --impl fast numba cuda cuda-dev torch-cuda --json "$OUT_DIR/bench.json"
echo "== done: GPU tests exit status $status; files in $OUT_DIR"
exit $status
