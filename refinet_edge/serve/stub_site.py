"""NumPy 1 for Triton's Python-backend stub, beside this environment's own NumPy.

The stub that PyTriton 0.7.0 bundles is built against NumPy 1's C layout: with
NumPy 2 it answers every output with 0 bytes (measured here). It embeds Python in
isolated mode (``PYTHONPATH`` is ignored) but still reads ``.pth`` files, so the
set-up is two files, made once per environment by this module:

* :data:`STUB_SITE`: ``numpy==1.26.4`` installed with ``pip install --target``;
* :data:`HOOK_NAME` in site-packages: puts ``$REFINET_TRITON_STUB_SITE`` first on
  ``sys.path`` when that variable is set. Only ``tritonserver`` and its stubs get
  it (:func:`refinet_edge.serve.server.stub_environment`); every other Python in
  the environment sees an unset variable and is unchanged.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

STUB_NUMPY = "numpy==1.26.4"
STUB_SITE = Path(os.environ.get("REFINET_TRITON_STUB_SITE_DIR", Path(sys.prefix) / "triton-stub-site"))
ENV_VAR = "REFINET_TRITON_STUB_SITE"
HOOK_NAME = "refinet_edge_triton_stub.pth"
HOOK = f'import os, sys; p = os.environ.get("{ENV_VAR}"); p and sys.path.insert(0, p)\n'
SETUP_COMMAND = "python -m refinet_edge.serve.stub_site"


def hook_path() -> Path:
    return Path(sysconfig.get_paths()["purelib"]) / HOOK_NAME


def is_ready(stub_site: Path = STUB_SITE) -> bool:
    """Both files are in place (NumPy 1 in ``stub_site`` and the ``.pth`` hook)."""
    hook = hook_path()
    return (stub_site / "numpy").is_dir() and hook.is_file() and hook.read_text() == HOOK


def set_up(stub_site: Path = STUB_SITE) -> None:
    """Install NumPy 1 into ``stub_site`` (pip) and write the hook."""
    if not (stub_site / "numpy").is_dir():
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(stub_site),
                        STUB_NUMPY], check=True)
    hook_path().write_text(HOOK)


if __name__ == "__main__":
    set_up()
    print(f"stub_site: {STUB_NUMPY} in {STUB_SITE}; hook {hook_path()}")
