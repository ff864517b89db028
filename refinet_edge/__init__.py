"""refinet-edge: RefiNet 3D human-pose refinement, from training to the edge.

``import refinet_edge`` needs only the base dependencies (NumPy, h5py, typer,
OpenCV): TensorRT, CUDA bindings, pyrealsense2 and mediapipe are imported only
by the modules that use them.
"""

__version__ = "0.1.0"
