"""ONNX export, TensorRT engines, runners and comparison (installed as ``refinet_edge.export``).

==================  ===============================================================
module              what
==================  ===============================================================
``onnx_export``     one stage checkpoint -> simplified, checked ONNX with provenance
``run_export``      the ``export`` verb: every stage, TensorRT check, parity gate
``trt_check``       TensorRT 10/11 compatibility rules, checked without TensorRT
``runners``         one runner interface (torch, onnxruntime; ``trt_runner``)
``backends``        runners and whole pipelines by backend and precision name
``compare``         two runners on the same inputs, tolerances per precision
``engine_info``     build settings, profiles, engine sidecars (no TensorRT needed)
``trt_api``         the shim over TensorRT 10/11 and TensorRT-RTX (``--runtime``)
``trt_build``       TensorRT engine build (strongly typed; 10.x, 11.x and RTX)
``trt_inspect``     the ``inspect`` verb: an ONNX as TensorRT parses it, an engine
``build``           the ``build`` verb
==================  ===============================================================

Nothing here imports onnx, onnxruntime, torch, tensorrt or tensorrt_rtx at import time.
"""
