"""Precision of a deployed stage: one enum, validated in one place.

TensorRT 10.x (strongly typed) and 11.x take precision from the graph itself:
``fp16`` is an ONNX whose tensors are float16 (with float32 inputs and outputs),
``int8`` an ONNX with explicit QuantizeLinear/DequantizeLinear pairs. File names
in an ONNX directory follow the precision: ``{stage}.onnx`` (fp32),
``{stage}.fp16.onnx`` and ``{stage}.int8.onnx``.
"""

from __future__ import annotations

from enum import Enum

from refinet_edge.errors import RefinetError, did_you_mean


class Precision(str, Enum):
    FP32 = "fp32"
    FP16 = "fp16"
    INT8 = "int8"

    @classmethod
    def parse(cls, value: str | Precision, what: str = "--precision") -> Precision:
        """The precision named ``value``; a one-line error with a hint otherwise."""
        if isinstance(value, Precision):
            return value
        names = [p.value for p in cls]
        if value not in names:
            raise RefinetError(f"{what} must be one of {', '.join(names)}, got {value!r}{did_you_mean(value, names)}")
        return cls(value)

    def onnx_name(self, stage: str) -> str:
        """File name of ``stage``'s ONNX at this precision."""
        return f"{stage}.onnx" if self is Precision.FP32 else f"{stage}.{self.value}.onnx"

    def engine_name(self, stage: str) -> str:
        """File name of ``stage``'s TensorRT engine at this precision (sidecar: ``+ '.json'``)."""
        return f"{stage}.{self.value}.engine"
