"""``inspect``: what the installed TensorRT makes of an ONNX file or an engine, as one table (like Polygraphy's).

ONNX (no GPU needed): the ONNX nodes whose operator the installed parser does
not support (``OnnxParser.supports_operator``, with node names), the parser's
errors, and the parsed strongly typed network: per layer its name, type, and
each input/output tensor with its type and shape. :func:`layer_summary` counts
layers by (type, output type), which is how the tests check that fp16 convs
and matrix multiplies compute in half and that int8 Q/DQ layers sit where
``calibrate`` put them.

Engine: its ``.engine.json`` sidecar, and, where the engine deserialises (a GPU
with a matching TensorRT), the engine inspector's per-layer JSON.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from refinet_edge.errors import RefinetError

from .engine_info import read_sidecar
from .trt_api import TrtApi, load

if TYPE_CHECKING:
    import tensorrt as trt

COMPUTE_LAYERS = ("CONVOLUTION", "DECONVOLUTION", "MATRIX_MULTIPLY")


@dataclass(frozen=True)
class LayerRow:
    index: int
    name: str
    type: str  # e.g. CONVOLUTION (TensorRT's LayerType member)
    inputs: tuple[str, ...]  # "name:TYPE[shape]"
    outputs: tuple[str, ...]
    output_types: tuple[str, ...]  # e.g. ("HALF",)


@dataclass
class OnnxInspection:
    """The network as ``api`` parses ``path``; ``errors`` non-empty when parsing failed."""

    path: Path
    runtime: str
    layers: list[LayerRow] = field(default_factory=list)
    unsupported: list[str] = field(default_factory=list)  # "node_name (OpType)"
    errors: list[str] = field(default_factory=list)

    def summary(self) -> Counter:
        return layer_summary(self.layers)


def layer_summary(layers: list[LayerRow]) -> Counter:
    """Layer counts by ``(type, first output type)``: ``{("MATRIX_MULTIPLY", "HALF"): 6, ...}``."""
    return Counter((row.type, row.output_types[0] if row.output_types else "-") for row in layers)


def _tensor(tensor: Any) -> str:
    if tensor is None:
        return "-"
    return f"{tensor.name}:{tensor.dtype.name}{list(tensor.shape)}"


def unsupported_nodes(api: TrtApi, parser: trt.OnnxParser, onnx_path: Path) -> list[str]:
    """ONNX nodes (``name (Op)``) whose operator this parser lacks; ``com.microsoft`` ops count as lacking."""
    import onnx

    model = onnx.load(str(onnx_path), load_external_data=False)
    found = []
    for node in model.graph.node:
        known = node.domain in ("", "ai.onnx") and parser.supports_operator(node.op_type)
        if not known:
            op = f"{node.domain}.{node.op_type}" if node.domain not in ("", "ai.onnx") else node.op_type
            found.append(f"{node.name or '(unnamed)'} ({op})")
    return found


def inspect_onnx(onnx_path: Path, runtime: str = "auto") -> OnnxInspection:
    """Parse ``onnx_path`` with the installed TensorRT (no GPU) and list its layers."""
    from .trt_build import parse_onnx, parser_errors, quiet_logger

    if not onnx_path.is_file():
        raise RefinetError(f"{onnx_path}: no such file")
    api = load(runtime)
    if TYPE_CHECKING:
        import tensorrt as trt
    else:
        trt = api.module
    result = OnnxInspection(onnx_path, api.label)
    logger = quiet_logger(api, lambda line: None)
    builder = trt.Builder(logger)
    network, parser = parse_onnx(api, builder, onnx_path, logger, check=False)
    result.unsupported = _unsupported_or_unreadable(api, parser, onnx_path)
    if parser.num_errors:
        result.errors.append(parser_errors(parser))
        return result
    for i in range(network.num_layers):
        layer = network.get_layer(i)
        inputs = tuple(_tensor(layer.get_input(j)) for j in range(layer.num_inputs))
        outs = [layer.get_output(j) for j in range(layer.num_outputs)]
        result.layers.append(LayerRow(i, layer.name, layer.type.name, inputs, tuple(_tensor(t) for t in outs),
                                      tuple(t.dtype.name for t in outs)))
    return result


def _unsupported_or_unreadable(api: TrtApi, parser: trt.OnnxParser, onnx_path: Path) -> list[str]:
    try:
        return unsupported_nodes(api, parser, onnx_path)
    except Exception:  # noqa: BLE001 - a file onnx cannot read either: the parser's error says it all
        return []


def onnx_table(result: OnnxInspection) -> list[str]:
    """One table: a header, one line per layer, then unsupported nodes, errors and the per-type summary."""
    lines = [f"{result.path} as {result.runtime} parses it: {len(result.layers)} layers",
             f"{'#':>4}  {'type':16s} {'out':6s} {'name':48s} inputs -> outputs"]
    for row in result.layers:
        lines.append(f"{row.index:>4}  {row.type:16s} {','.join(row.output_types):6s} {row.name[:48]:48s} "
                     f"{', '.join(row.inputs)} -> {', '.join(row.outputs)}")
    summary = ", ".join(f"{t} {o} x{n}" for (t, o), n in sorted(result.summary().items()))
    lines.append(f"layers by type and output type: {summary or 'none'}")
    lines.append("unsupported nodes: " + ("; ".join(result.unsupported) or "none"))
    lines.append("parser errors: " + ("; ".join(result.errors) or "none"))
    return lines


def inspect_engine(engine_path: Path) -> tuple[dict, dict | None, str]:
    """The sidecar, the engine inspector's JSON (None without a GPU/matching TensorRT) and a note saying why."""
    if not engine_path.is_file():
        raise RefinetError(f"{engine_path}: no such file")
    sidecar = read_sidecar(engine_path)
    from refinet_edge.kernels.layer import is_available as gpu_available

    if not gpu_available():
        return sidecar, None, "per-layer information needs a GPU (TensorRT's engine inspector deserialises the engine)"
    try:
        api = load(str(sidecar["flavour"]))
    except RefinetError as exc:
        return sidecar, None, str(exc)
    return sidecar, *_engine_layers(api, engine_path)


def _engine_layers(api: TrtApi, engine_path: Path) -> tuple[dict | None, str]:
    if TYPE_CHECKING:
        import tensorrt as trt
    else:
        trt = api.module
    logger = trt.Logger(trt.Logger.ERROR)
    runtime = trt.Runtime(logger)
    engine = runtime.deserialize_cuda_engine(engine_path.read_bytes())
    if engine is None:
        return None, f"{api.label} could not deserialise the engine here (built elsewhere? rebuild it)"
    inspector = engine.create_engine_inspector()
    info = json.loads(inspector.get_engine_information(trt.LayerInformationFormat.JSON))
    return info, f"engine inspector of {api.label}"


def engine_table(sidecar: dict, info: dict | None, note: str) -> list[str]:
    keys = ("stage", "precision", "flavour", "tensorrt", "targets", "gpu", "compute_capability", "onnx",
            "workspace_mb", "build_seconds")
    lines = [f"{key:20s} {sidecar.get(key)}" for key in keys]
    lines.append(f"{'profile':20s} {json.dumps(sidecar.get('profile'))}")
    lines.append(f"layers: {note}")
    for layer in (info or {}).get("Layers", []):
        lines.append(f"  {layer if isinstance(layer, str) else json.dumps(layer)}")
    return lines
