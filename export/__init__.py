"""ONNX export and TensorRT engine building (installed as ``refinet_edge.export``).

Empty until the export/engines issue lands; kept so the package layout the
design card asks for installs from the first release.
"""
