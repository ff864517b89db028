"""FP16 conversion and INT8 Q/DQ calibration (installed as ``refinet_edge.calibration``).

``refinet-edge calibrate`` writes ``{stage}.fp16.onnx`` and ``{stage}.int8.onnx``
beside the fp32 export and gates each precision on accuracy (:mod:`.gate`).
TensorRT 11 removed implicit INT8 calibration and the FP16/INT8 builder flags,
so precision lives in these graphs and the engines are built strongly typed.
"""
