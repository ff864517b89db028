"""The ``refinet`` model of an exported Triton repository (copied there as ``refinet/1/model.py``).

Runs inside Triton's Python backend: decodes each request (:mod:`refinet_edge.serve.tensors`;
a bad request gets its own error response naming the input, the others are served), runs
the pre-processing here and each stage as a BLS request to ``refinet_{stage}``, batched
over all the people of Triton's batch. Needs ``refinet_edge`` installed in the server's Python.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


class BlsStage:
    """A stage runner that sends its float32 inputs to the stage's Triton model and returns ``offsets``."""

    def __init__(self, pb_utils, model: str, inputs: list[str], output: str) -> None:
        self.pb, self.model, self.inputs, self.output = pb_utils, model, inputs, output

    def __call__(self, *arrays: np.ndarray) -> np.ndarray:
        tensors = [self.pb.Tensor(n, np.ascontiguousarray(a, np.float32)) for n, a in zip(self.inputs, arrays,
                                                                                         strict=True)]
        request = self.pb.InferenceRequest(model_name=self.model, requested_output_names=[self.output],
                                           inputs=tensors)
        response = request.exec()
        if response.has_error():
            raise RuntimeError(f"{self.model}: {response.error().message()}")
        return self.pb.get_output_tensor_by_name(response, self.output).as_numpy()


class TritonPythonModel:
    def initialize(self, args: dict) -> None:
        import triton_python_backend_utils as pb_utils

        from refinet_edge.pipeline import STAGES, RefinementPipeline, config_from_preprocess
        from refinet_edge.serve.server import BatchRefiner

        self.pb = pb_utils
        folder = Path(args["model_repository"]) / args["model_version"]
        setup = json.loads((folder / "pipeline.json").read_text())
        runners = {s: BlsStage(pb_utils, f"refinet_{s}", setup["specs"][s]["inputs"], setup["specs"][s]["outputs"][0])
                   for s in STAGES}
        pipeline = RefinementPipeline(runners, config_from_preprocess(setup["preprocess"]), preprocess="cpu")
        self.refiner = BatchRefiner(pipeline, setup["max_depth_px"])

    def execute(self, requests: list) -> list:
        from refinet_edge.errors import RefinetError
        from refinet_edge.serve.tensors import INPUTS, decode_request

        pb = self.pb
        responses: list = [None] * len(requests)
        good, decoded = [], []
        for index, request in enumerate(requests):
            feed = {}
            for name in INPUTS:
                tensor = pb.get_input_tensor_by_name(request, name)
                if tensor is not None:
                    feed[name] = tensor.as_numpy()
            try:
                decoded.append(decode_request(feed, self.refiner.max_depth_px))
            except RefinetError as exc:  # this request alone gets the error
                responses[index] = pb.InferenceResponse(error=pb.TritonError(str(exc)))
                continue
            good.append(index)
        if decoded:
            for index, out in zip(good, self.refiner.refine(decoded), strict=True):
                responses[index] = pb.InferenceResponse(output_tensors=[pb.Tensor(n, v) for n, v in out.items()])
        return responses
