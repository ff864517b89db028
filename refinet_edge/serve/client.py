"""``live --server``: the refinement of each frame runs on a Triton server (``refinet-edge serve``).

:class:`RemoteRefiner` has :class:`~refinet_edge.live.refiner.Refiner`'s call
signature, so the live loop, its JSONL and its summary are unchanged. Server
addresses: ``HOST:PORT`` or ``http://HOST:PORT`` (HTTP), ``grpc://HOST:PORT``.

A server that cannot be reached when the client starts is a
:class:`RefinetError` (one ``error:`` line). A server lost mid-run: the frame
whose request failed is dropped (counted in :attr:`RemoteRefiner.dropped`), a
status line says so, and the client waits for the server, checking every
``retry_s``, before the next frame; frames the camera delivers meanwhile are
dropped by the live loop and counted there.
"""

from __future__ import annotations

import http.client
import itertools
import os
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..errors import RefinetError
from ..live.detectors import Detections
from ..live.frames import RGBDFrame
from ..live.refiner import Refined
from ..pipeline import STEPS
from .tensors import INPUTS, MODEL_NAME, REQUEST_TAG, TRITON_DTYPES, encode_request

COLLATERAL_RETRIES = 3


@dataclass(frozen=True)
class ServerAddress:
    protocol: str  # http or grpc
    url: str       # HOST:PORT

    def __str__(self) -> str:
        return f"{self.protocol}://{self.url}"


def parse_server(text: str) -> ServerAddress:
    """``HOST:PORT``, ``http://HOST:PORT`` or ``grpc://HOST:PORT``."""
    protocol, _, rest = text.rpartition("://")
    protocol = protocol or "http"
    host, _, port = rest.rpartition(":")
    if protocol not in ("http", "grpc") or not host or not port.isdigit():
        raise RefinetError(f"--server {text!r}: expected HOST:PORT, http://HOST:PORT or grpc://HOST:PORT")
    return ServerAddress(protocol, f"{host}:{port}")


class ServerError(Exception):
    """The server answered with an error (bad input): not retried."""


class TritonRefinerClient:
    """One connection to model ``refinet``; :meth:`infer` returns every step's joints and validity."""

    def __init__(self, address: ServerAddress, timeout_s: float = 10.0) -> None:
        try:
            if address.protocol == "grpc":
                import tritonclient.grpc as triton
            else:
                import tritonclient.http as triton
        except ImportError:
            raise RefinetError("--server needs tritonclient: pip install 'refinet-edge[serve]'") from None
        self.address, self.timeout_s, self._triton = address, timeout_s, triton
        self._exceptions = (triton.InferenceServerException,)
        kwargs = {"network_timeout": timeout_s, "connection_timeout": timeout_s} if address.protocol == "http" else {}
        self.client = triton.InferenceServerClient(address.url, **kwargs)
        self._tag_prefix = f"{os.getpid()}.{id(self):x}"
        self._counter = itertools.count()
        self.collateral_retries = 0  # requests resent because another client's bad request shared their batch
        self._optional: tuple[str, ...] | None = None  # OPTIONAL_OUTPUTS this server offers (asked once)

    def ready(self) -> bool:
        """The server is up and model ``refinet`` is loaded."""
        try:
            return bool(self.client.is_server_ready() and self.client.is_model_ready(MODEL_NAME))
        except Exception:  # noqa: BLE001 - any transport failure means "not ready"
            return False

    def infer(self, feed: dict[str, np.ndarray], steps: bool = True) -> dict[str, np.ndarray]:
        """Run one request; :class:`ServerError` for an error response, ConnectionError when the server is gone.

        A request failed only because a bad request from someone else shared its batch (the error quotes other
        tags, not ours) is sent again, up to ``COLLATERAL_RETRIES`` times, and counted in ``collateral_retries``.
        """
        for _ in range(COLLATERAL_RETRIES):
            tag = f"{self._tag_prefix}-{next(self._counter)}"
            try:
                return self._infer_once(feed, steps, tag)
            except ServerError as exc:
                if f"[{REQUEST_TAG} " not in str(exc) or f"[{REQUEST_TAG} {tag}]" in str(exc):
                    raise ServerError(_own_problem(str(exc), tag)) from None
                self.collateral_retries += 1
        raise ServerError(f"request failed {COLLATERAL_RETRIES} times beside other clients' bad requests")

    def _infer_once(self, feed: dict[str, np.ndarray], steps: bool, tag: str) -> dict[str, np.ndarray]:
        triton = self._triton
        inputs = []
        for name, value in feed.items():
            tensor = triton.InferInput(name, list(value.shape), TRITON_DTYPES[value.dtype])
            tensor.set_data_from_numpy(value)
            inputs.append(tensor)
        names = ["joints_3d_m", "valid", *(["step_joints_3d_m", *self._offered()] if steps else [])]
        outputs = [triton.InferRequestedOutput(n) for n in names]
        kwargs = {"client_timeout": self.timeout_s} if self.address.protocol == "grpc" else {}
        result = self._ask(lambda: self.client.infer(MODEL_NAME, inputs, outputs=outputs,
                                                     parameters={REQUEST_TAG: tag}, **kwargs))
        return {n: result.as_numpy(n) for n in names}

    def _ask(self, call: Callable):
        """``call()`` on the server: :class:`ServerError` for an error response, ConnectionError for no answer."""
        try:
            return call()
        except self._exceptions as exc:
            if _is_transport_error(exc):
                raise ConnectionError(str(exc)) from None
            raise ServerError(exc.message() if hasattr(exc, "message") else str(exc)) from None
        except (OSError, http.client.HTTPException) as exc:  # refused, reset, closed mid-response (geventhttpclient)
            raise ConnectionError(f"{type(exc).__name__}: {exc}") from None

    def _offered(self) -> tuple[str, ...]:
        """The optional outputs this server's model has: a server of an older refinet-edge lacks ``second_pass`` or
        ``hidden``."""
        if self._optional is None:
            kwargs = {"as_json": True} if self.address.protocol == "grpc" else {}
            self._optional = offered_outputs(self._ask(lambda: self.client.get_model_metadata(MODEL_NAME, **kwargs)))
        return self._optional

    def statistics(self) -> dict:
        """Triton's inference statistics of model ``refinet`` (batch sizes it executed, counts, times)."""
        if self.address.protocol == "grpc":
            stats = self.client.get_inference_statistics(MODEL_NAME, as_json=True)
        else:
            stats = self.client.get_inference_statistics(MODEL_NAME)
        return stats["model_stats"][0]

    def close(self) -> None:
        self.client.close()


OPTIONAL_OUTPUTS = ("second_pass", "hidden")  # outputs added after the first served model; asked for where offered


def offered_outputs(metadata: dict) -> tuple[str, ...]:
    """Which of :data:`OPTIONAL_OUTPUTS` a model's metadata (KServe v2: ``{"outputs": [{"name": ..}, ..]}``) lists."""
    names = {out.get("name") for out in metadata.get("outputs", [])}
    return tuple(n for n in OPTIONAL_OUTPUTS if n in names)


def _own_problem(message: str, tag: str) -> str:
    """The part of a batch's error message about our request (the whole message when it is not tagged)."""
    mine = f"[{REQUEST_TAG} {tag}] "
    for part in message.split("; "):
        if mine in part:
            return part.split(mine, 1)[1]
    return message


def _is_transport_error(exc: Exception) -> bool:
    """An exception from tritonclient that means "no answer" (refused, reset, timed out), not an error response."""
    text = str(exc).lower()
    status = str(getattr(exc, "status", lambda: "")() or "")
    return status in ("StatusCode.UNAVAILABLE", "StatusCode.DEADLINE_EXCEEDED") or any(
        w in text for w in ("connection", "refused", "reset", "timed out", "timeout", "broken pipe", "unavailable"))


class RemoteRefiner:
    """A live-loop refiner whose pipeline runs on a Triton server (see the module docstring)."""

    steps = STEPS

    def __init__(self, address: ServerAddress, status: Callable[[str], None] = print, retry_s: float = 1.0,
                 give_up_s: float | None = None) -> None:
        self.client = TritonRefinerClient(address)
        if not self.client.ready():
            raise RefinetError(f"--server {address}: no Triton server with model {MODEL_NAME} answers there; start "
                               f"one with `refinet-edge serve` (and check host, port and protocol)")
        self.address, self.status, self.retry_s, self.give_up_s = address, status, retry_s, give_up_s
        self.dropped = 0       # frames whose request failed because the server was gone
        self.reconnects = 0

    def __call__(self, frame: RGBDFrame, detections: Detections) -> Refined | None:
        """The frame's refinement, or None when the server was lost (the frame is dropped and counted)."""
        people = detections.count
        if people == 0:
            empty = np.zeros((0, detections.uv_px.shape[1], 3))
            none = np.zeros((0, empty.shape[1]), bool)
            return Refined({s: empty for s in self.steps}, self.steps[-1], none, {}, none)
        feed = encode_request(frame.depth_m, frame.camera, detections.uv_px, detections.scores)
        start = time.perf_counter()
        try:
            out = self.client.infer(feed)
        except ServerError as exc:
            raise RefinetError(f"--server {self.address}: {exc}") from None
        except ConnectionError as exc:
            self.dropped += 1
            self._wait_for_server(str(exc))
            return None
        round_trip = (time.perf_counter() - start) * 1e3
        steps = {s: out["step_joints_3d_m"][:, k] for k, s in enumerate(self.steps)}
        return Refined(steps, self.steps[-1], out["valid"].astype(bool), {"round_trip": round_trip,
                                                                           "refine": round_trip},
                       out["second_pass"].astype(bool) if "second_pass" in out else None,
                       out["hidden"].astype(bool) if "hidden" in out else None)

    def _wait_for_server(self, why: str) -> None:
        self.status(f"server {self.address} lost ({why.splitlines()[0][:80]}); frame dropped, retrying every "
                    f"{self.retry_s:g} s")
        lost = time.monotonic()
        while not self.client.ready():
            if self.give_up_s is not None and time.monotonic() - lost > self.give_up_s:
                raise RefinetError(f"--server {self.address}: lost for more than {self.give_up_s:g} s; giving up")
            time.sleep(self.retry_s)
        self.reconnects += 1
        self.status(f"server {self.address} back after {time.monotonic() - lost:.1f} s")


__all__ = ["INPUTS", "RemoteRefiner", "ServerAddress", "TritonRefinerClient", "parse_server"]
