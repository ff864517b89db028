"""Pre-processing between the stages: the reference contract (NumPy) and its batched torch twin.

* :mod:`.patches`: stage A depth patches around 2D joints (``extract_patches_reference``,
  ``extract_patches``, ``extract_patches_torch``).
* :mod:`.points`: stage C point clouds in a cube around 3D joints (``sample_points_reference``,
  ``sample_points``, ``points_to_offsets_scale``).
* :mod:`._jit`: lifting, patches, points and the stages' codecs compiled with Numba, bit-identical to
  the NumPy contracts (the ``jit`` extra; imported only when the CPU path first runs), one module per
  step beside its contract (``_jit_lifting``, ``_jit_patches``, ``_jit_points``, ``_jit_codec``, ``_jit_evidence``).
* :mod:`.steps`: where the pipeline runs them, the CPU path (Numba, else NumPy)
  or the CUDA kernels of :mod:`refinet_edge.kernels` (``select_steps``).

Each module's docstring is the exact rule a CUDA kernel must reproduce. Torch is
imported only by ``extract_patches_torch``.
"""
