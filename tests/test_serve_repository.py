"""`export --triton-repo`: every config.pbtxt parses as Triton's ModelConfig and matches the export specs and files."""

from __future__ import annotations

import ast
import json
import subprocess
import sys

import numpy as np
import pytest

from refinet_edge.errors import RefinetError
from refinet_edge.serve.repository import RepoSettings, stage_model_name, write_triton_repo
from refinet_edge.serve.tensors import INPUTS, MODEL_NAME, OUTPUTS

pb = pytest.importorskip("tritonclient.grpc.model_config_pb2")
onnx = pytest.importorskip("onnx")
TYPES = {np.dtype(np.float32): pb.TYPE_FP32, np.dtype(np.float64): pb.TYPE_FP64, np.dtype(np.uint16): pb.TYPE_UINT16,
         np.dtype(np.bool_): pb.TYPE_BOOL}
ONNX_TO_TRITON = {onnx.TensorProto.FLOAT: pb.TYPE_FP32}


def parse(path):
    from google.protobuf import text_format

    return text_format.Parse(path.read_text(), pb.ModelConfig())  # unknown fields or bad enums raise


@pytest.fixture(scope="module")
def repo(onnx_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("triton") / "repo"
    write_triton_repo(onnx_dir, root, RepoSettings(max_batch_people=32, queue_delay_us=1500,
                                                   preferred_batch_sizes=(4, 8)))
    return root


def test_every_config_parses_as_triton_model_config_with_dynamic_batching(repo):
    configs = sorted(repo.glob("*/config.pbtxt"))
    assert [c.parent.name for c in configs] == sorted([MODEL_NAME, *(stage_model_name(s) for s in
                                                                     ("patch", "skeleton", "pointcloud"))])
    for path in configs:
        config = parse(path)
        assert config.name == path.parent.name
        assert config.max_batch_size == 32
        assert config.HasField("dynamic_batching")
        assert config.dynamic_batching.max_queue_delay_microseconds == 1500
        assert list(config.dynamic_batching.preferred_batch_size) == [4, 8]


def test_stage_configs_match_the_export_specs_and_the_onnx_graphs(repo, onnx_dir):
    from refinet_edge.export.manifest import read_manifest, stage_specs

    for stage, spec in stage_specs(read_manifest(onnx_dir)).items():
        folder = repo / stage_model_name(stage)
        config = parse(folder / "config.pbtxt")
        assert config.platform == "onnxruntime_onnx"
        assert {t.name: tuple(t.dims) for t in config.input} == spec.inputs
        assert {t.name: tuple(t.dims) for t in config.output} == spec.outputs
        assert {t.data_type for t in [*config.input, *config.output]} == {pb.TYPE_FP32}
        graph = onnx.load(str(folder / "1" / "model.onnx")).graph
        for tensors, values in ((config.input, graph.input), (config.output, graph.output)):
            onnx_tensors = {v.name: v.type.tensor_type for v in values}
            for t in tensors:
                dims = [d.dim_value for d in onnx_tensors[t.name].shape.dim]
                assert tuple(dims[1:]) == tuple(t.dims)  # the ONNX batch axis is dynamic (dim_value 0)
                assert ONNX_TO_TRITON[onnx_tensors[t.name].elem_type] == t.data_type


def test_refinet_model_serves_the_same_tensors_as_refinet_edge_serve(repo, onnx_dir):
    config = parse(repo / MODEL_NAME / "config.pbtxt")
    assert config.backend == "python"
    assert {t.name: (t.data_type, tuple(t.dims), t.optional) for t in config.input} == \
        {n: (TYPES[np.dtype(d)], s, o) for n, (d, s, o) in INPUTS.items()}
    assert {t.name: (t.data_type, tuple(t.dims)) for t in config.output} == \
        {n: (TYPES[np.dtype(d)], s) for n, (d, s) in OUTPUTS.items()}
    source = (repo / MODEL_NAME / "1" / "model.py").read_text()
    classes = {n.name for n in ast.parse(source).body if isinstance(n, ast.ClassDef)}
    assert "TritonPythonModel" in classes
    setup = json.loads((repo / MODEL_NAME / "1" / "pipeline.json").read_text())
    from refinet_edge.export.backends import pipeline_from_onnx_dir
    from refinet_edge.pipeline import config_from_preprocess

    assert config_from_preprocess(setup["preprocess"]) == pipeline_from_onnx_dir(onnx_dir)[0].config
    assert "tritonserver --model-repository" in (repo / "README.md").read_text()


def test_tensorrt_plan_without_engines_and_a_used_folder_are_user_errors(onnx_dir, repo, tmp_path):
    with pytest.raises(RefinetError, match="refinet-edge build"):
        write_triton_repo(onnx_dir, tmp_path / "trt", RepoSettings(platform="tensorrt_plan"))
    with pytest.raises(RefinetError, match="not empty"):
        write_triton_repo(onnx_dir, repo)
    result = subprocess.run([sys.executable, "-m", "refinet_edge.cli", "export", "--out", str(tmp_path / "o"),
                             "--triton-repo", str(repo)], capture_output=True, text=True)
    assert result.returncode == 1 and "not empty" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "o").exists()  # refused before exporting anything
