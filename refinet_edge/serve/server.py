"""``refinet-edge serve``: the refinement pipeline as one Triton model, ``refinet``, through PyTriton.

PyTriton starts a real ``tritonserver`` (bundled in the ``nvidia-pytriton`` wheel)
whose Python backend hands each batch of requests to :class:`BatchRefiner`.
Triton's dynamic batcher forms the batches (people of several requests, up to
``max_batch_people``, waiting at most ``queue_delay_us``); Triton itself rejects
a request with a missing input or a wrong dtype or rank, naming the input,
before it is batched.

The Python-backend stub (``triton_python_backend_stub``, a process per model
instance) needs two things :func:`stub_environment` gives ``tritonserver`` and
nothing else:

* ``LD_LIBRARY_PATH`` led by this interpreter's ``LIBDIR``: the stub links
  ``libpython3.X.so`` through the dynamic loader, and where the system's
  libpython differs from the running interpreter's (this CI machine: system
  3.11.2, pyenv 3.11.7) it failed at model load (``'_thread.RLock' object has no
  attribute '_recursion_count'``);
* NumPy 1: the stub is built against NumPy 1's C layout and, with NumPy 2,
  answers every output with 0 bytes (PyTriton 0.7.0, measured here). When this
  interpreter has NumPy 2, ``REFINET_TRITON_STUB_SITE`` points the stub at a
  NumPy 1 folder (:mod:`.stub_site`, set up once with
  ``python -m refinet_edge.serve.stub_site``); this process keeps NumPy 2.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sysconfig
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import RefinetError
from ..pipeline import RefinementPipeline
from . import stub_site
from .tensors import (
    INPUTS,
    MAX_DEPTH_PX,
    MODEL_NAME,
    OUTPUTS,
    REQUEST_TAG,
    PersonBatch,
    decode_request,
    encode_response,
)


@dataclass(frozen=True)
class ServeOptions:
    """Ports and batching of the served model (0 for a port: let the caller pick a free one first)."""

    http_port: int = 8000
    grpc_port: int = 8001
    metrics_port: int = 8002
    address: str = "0.0.0.0"
    max_batch_people: int = 64                     # Triton's max_batch_size: people per executed batch
    queue_delay_us: int = 2000                     # dynamic batcher: longest wait for more requests
    preferred_batch_sizes: tuple[int, ...] = field(default_factory=tuple)  # empty: as large as available
    max_depth_px: int = MAX_DEPTH_PX               # largest depth map (H x W) accepted


def stub_environment(environ: dict[str, str] | None = None, numpy_version: str = np.__version__,
                     site: Path = stub_site.STUB_SITE) -> dict[str, str]:
    """``environ`` (default: ``os.environ``) as the Python-backend stub needs it (module docstring)."""
    env = dict(os.environ if environ is None else environ)
    libdir = sysconfig.get_config_var("LIBDIR")
    if libdir and os.path.isdir(libdir):
        env["LD_LIBRARY_PATH"] = _prepend(libdir, env.get("LD_LIBRARY_PATH", ""))
    if int(numpy_version.split(".")[0]) >= 2:
        if not stub_site.is_ready(site):
            raise RefinetError(f"serve: Triton's Python backend needs NumPy 1 beside this environment's NumPy "
                               f"{numpy_version}; set it up once with: {stub_site.SETUP_COMMAND}")
        env[stub_site.ENV_VAR] = str(site)
    return env


def check_ports(options: ServeOptions) -> None:
    """Each port is valid, distinct and free on ``options.address`` (else tritonserver fails after a minute)."""
    ports = {"--http-port": options.http_port, "--grpc-port": options.grpc_port,
             "--metrics-port": options.metrics_port}
    if len(set(ports.values())) != 3 or not all(1 <= p <= 65535 for p in ports.values()):
        raise RefinetError(f"ports must be distinct and in 1..65535, got {ports}")
    for option, port in ports.items():
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((options.address, port))
            except OSError as exc:
                raise RefinetError(f"{option} {port}: cannot listen on {options.address}:{port} ({exc.strerror}); "
                                   f"is another server running there? choose another port") from None


def _prepend(entry: str, path: str) -> str:
    return ":".join([entry, *(p for p in path.split(":") if p and p != entry)])


@contextlib.contextmanager
def _environ_for_server(env: dict[str, str]) -> Iterator[None]:
    """``os.environ`` updated with ``env`` (:func:`stub_environment`) while PyTriton starts ``tritonserver`` (it
    copies os.environ)."""
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


class BatchRefiner:
    """Runs a batch of Triton requests through one pipeline; requests with one camera share a pipeline call."""

    def __init__(self, pipeline: RefinementPipeline, max_depth_px: int = MAX_DEPTH_PX) -> None:
        if pipeline.steps[-1] != "pointcloud" or len(pipeline.steps) != 4:
            raise RefinetError(f"serve needs all three stages; loaded: {', '.join(pipeline.runners) or 'none'}")
        self.pipeline, self.max_depth_px = pipeline, max_depth_px
        self.batches: list[tuple[int, int]] = []  # (requests, people) of each executed batch

    def refine(self, decoded: list[PersonBatch]) -> list[dict[str, np.ndarray]]:
        """The outputs of each decoded request, in order."""
        groups: dict[tuple, list[int]] = {}
        for index, request in enumerate(decoded):
            groups.setdefault(request.key, []).append(index)
        responses: list[dict[str, np.ndarray]] = [{} for _ in decoded]
        for members in groups.values():
            for index, response in zip(members, self._run([decoded[i] for i in members]), strict=True):
                responses[index] = response
        self.batches.append((len(decoded), sum(r.uv_px.shape[0] for r in decoded)))
        return responses

    def _run(self, requests: list[PersonBatch]) -> list[dict[str, np.ndarray]]:
        depth = np.concatenate([r.depth_m for r in requests])
        uv = np.concatenate([r.uv_px for r in requests])
        result = self.pipeline.run(depth, uv, requests[0].camera)
        final = self.pipeline.steps[-1]
        out, start = [], 0
        for request in requests:
            people = slice(start, start + request.uv_px.shape[0])
            start = people.stop
            out.append(encode_response({s: j[people] for s, j in result.steps.items()}, final, result.valid[people],
                                       result.second_pass[people], result.hidden[people]))
        return out


def _infer_function(refiner: BatchRefiner) -> Callable:
    """PyTriton's callable. PyTriton answers a whole batch with one error, so a bad request fails the requests
    batched with it too: the message tags each bad request (the client's ``refinet_request`` parameter), and a
    client that does not find its own tag resends (:class:`~refinet_edge.serve.client.TritonRefinerClient`)."""
    def infer(requests: list) -> list[dict[str, np.ndarray]]:
        decoded, problems = [], []
        for request in requests:
            try:
                decoded.append(decode_request({name: request[name] for name in request}, refiner.max_depth_px))
            except RefinetError as exc:
                tag = (request.parameters or {}).get(REQUEST_TAG, "untagged")
                problems.append(f"[{REQUEST_TAG} {tag}] {exc}")
        if problems:
            raise ValueError(f"{len(problems)} of {len(requests)} batched request(s) rejected: " + "; ".join(problems))
        return refiner.refine(decoded)
    return infer


def serve(pipeline: RefinementPipeline, options: ServeOptions, ready: Callable[[str], None] = print,
          stop_after_s: float | None = None) -> None:
    """Serve ``pipeline`` as model ``refinet`` until Ctrl-C / SIGTERM (or ``stop_after_s``)."""
    try:
        from pytriton.model_config import DynamicBatcher, ModelConfig, Tensor
        from pytriton.triton import DEFAULT_PROTECTED_ENDPOINTS, Triton, TritonConfig, TritonSecurityConfig
    except ImportError:
        raise RefinetError("serve needs PyTriton: pip install 'refinet-edge[serve]' and then "
                           "pip install --no-deps nvidia-pytriton==0.7.0 (see README, Serving)") from None
    if options.preferred_batch_sizes and max(options.preferred_batch_sizes) > options.max_batch_people:
        raise RefinetError(f"--preferred-batch {list(options.preferred_batch_sizes)}: each must be <= "
                           f"--max-batch {options.max_batch_people}")
    env = stub_environment()  # raises now, with the fix, rather than after the server started
    check_ports(options)
    refiner = BatchRefiner(pipeline, options.max_depth_px)
    batcher = DynamicBatcher(max_queue_delay_microseconds=options.queue_delay_us,
                             preferred_batch_size=list(options.preferred_batch_sizes) or None)
    config = TritonConfig(http_address=options.address, http_port=options.http_port,
                          grpc_address=options.address, grpc_port=options.grpc_port,
                          metrics_port=options.metrics_port, exit_on_error=True)
    # statistics (read-only counts: the batch sizes Triton formed) open; PyTriton's other restrictions stay
    security = TritonSecurityConfig(restricted_endpoints=[e for e in DEFAULT_PROTECTED_ENDPOINTS if e != "statistics"])
    with contextlib.ExitStack() as stack:
        with _environ_for_server(env):  # tritonserver starts inside Triton's __enter__
            triton = stack.enter_context(Triton(config=config, security_config=security))
            triton.bind(
                model_name=MODEL_NAME, infer_func=_infer_function(refiner),
                inputs=[Tensor(name=n, dtype=d, shape=s, optional=o) for n, (d, s, o) in INPUTS.items()],
                outputs=[Tensor(name=n, dtype=d, shape=s) for n, (d, s) in OUTPUTS.items()],
                config=ModelConfig(max_batch_size=options.max_batch_people, batcher=batcher), strict=False)
            triton.run()
        ready(f"serve: model {MODEL_NAME} ready on http :{options.http_port}, grpc :{options.grpc_port} "
              f"(max batch {options.max_batch_people} people, queue delay {options.queue_delay_us} us, preferred "
              f"{list(options.preferred_batch_sizes) or 'any'})")
        deadline = None if stop_after_s is None else time.monotonic() + stop_after_s
        while deadline is None or time.monotonic() < deadline:
            if not triton.is_alive():
                raise RefinetError("serve: tritonserver stopped (see its log above)")
            time.sleep(0.2)
