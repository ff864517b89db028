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
# pytest-gpu.xml and bench.json to OUT_DIR. Then the TensorRT engines (issue 19): with whichever TensorRT is
# installed (tensorrt 10/11 first, else tensorrt-rtx; say which in the log), the engine `gpu` tests, and per
# precision build + `compare` against ONNX Runtime + `bench --backend tensorrt` (writes engines/ and
# pytest-engines.xml). TensorRT-RTX supports RTX GPUs (compute capability 7.5, 8.6, 8.9, 12.x); on a data-centre
# GPU such as an H100/H200 (9.0) its engines are expected to fail, and the log says so rather than hiding it.
# Exit status: that of the GPU tests (kernels, then engines).
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
timeout 240 "$PY" -m benchmarks.preprocess --people 1,8 --repeats 200 --ref-repeats 1 \
  --impl fast,numba,cuda,cuda-dev,torch-cuda --json "$OUT_DIR/bench.json"
echo "== TensorRT engines"
"$PY" - <<'PYEOF'
from refinet_edge.export.trt_api import RTX_TARGETS, installed_flavours, load
from refinet_edge.kernels.layer import get_layer
flavours = installed_flavours()
print("TensorRT flavours installed:", ", ".join(flavours) or "none")
for flavour in flavours:
    print(" ", load(flavour).label)
try:
    with get_layer("cuda-python") as layer:
        cc = layer.arch.removeprefix("sm_")
        cc = f"{cc[:-1]}.{cc[-1]}"
        print(f"GPU {layer.device_name}, compute capability {cc}")
    if flavours[:1] == ["tensorrt-rtx"] and cc not in RTX_TARGETS:
        print(f"NOTE: TensorRT-RTX does not list compute capability {cc} (targets {', '.join(RTX_TARGETS)}): "
              "its engines are expected to fail here; a pass would be outside NVIDIA's support matrix")
except Exception as err:  # noqa: BLE001 - report and go on
    print("no CUDA device:", err)
PYEOF
engine_status=0
if "$PY" -c "from refinet_edge.export.trt_build import is_available as a; raise SystemExit(not a())"; then
  "$PY" -m pytest -q -p no:cacheprovider -m gpu -rs --junitxml="$OUT_DIR/pytest-engines.xml" \
    tests/test_trt_rtx_build.py tests/test_engine_build.py
  engine_status=$?
  ENG="$OUT_DIR/engines"
  rm -rf "$ENG"
  timeout 300 "$PY" -m refinet_edge.cli export --out "$ENG" --frames 8 \
    && timeout 300 "$PY" -m refinet_edge.cli calibrate --precision int8 --onnx-dir "$ENG"
  for precision in fp32 fp16 int8; do
    echo "-- $precision"
    timeout 300 "$PY" -m refinet_edge.cli build --onnx-dir "$ENG" --precision $precision --max-batch 16 \
      || { engine_status=1; continue; }
    timeout 300 "$PY" -m refinet_edge.cli compare --onnx-dir "$ENG" --backends onnxruntime,tensorrt \
      --precision $precision --frames 16 || engine_status=1
  done
  timeout 400 "$PY" -m refinet_edge.cli bench --backend onnxruntime,tensorrt --precision fp32,fp16,int8 \
    --batch 1,8 --iterations 50 --accuracy-frames 50 --onnx "$ENG" --out "$OUT_DIR/bench-engines" \
    --work "$OUT_DIR/bench-work" || engine_status=1
else
  echo "no TensorRT installed: engine checks skipped (pip install 'refinet-edge[tensorrt]' or '[tensorrt-rtx]')"
  engine_status=1
fi
[ $status -eq 0 ] && status=$engine_status
echo "== done: GPU tests exit status $status; files in $OUT_DIR"
exit $status
