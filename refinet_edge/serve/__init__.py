"""Many cameras, one GPU server: refinement served by Triton Inference Server.

* :mod:`.tensors`: the served model's inputs and outputs, and their checks;
* :mod:`.server`: ``refinet-edge serve`` (PyTriton: a real ``tritonserver`` with the pipeline in its Python backend);
* :mod:`.client`: ``refinet-edge live --server`` (a remote :class:`~refinet_edge.live.refiner.Refiner`);
* :mod:`.repository`: ``refinet-edge export --triton-repo`` (a model repository for a full Triton server);
* :mod:`.load`: the bounded loopback load test (``refinet-edge serve-load``).

Nothing here imports ``pytriton`` or ``tritonclient`` at import time (extra ``serve``).
"""
