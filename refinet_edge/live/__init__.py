"""Live refinement: frame sources (RealSense, recordings, synthetic), 2D front ends, the real-time loop.

Nothing here imports ``pyrealsense2``, ``onnxruntime`` or ``mediapipe`` at
import time; each source or detector that needs one imports it when opened
and says how to install it when it is missing.
"""
