"""Write outputs under a temporary name and rename them when complete.

A crash, Ctrl-C or error while writing never leaves a half-written file under
the final name: the data go to ``.<name>.tmp-<random>`` in the same directory
(same filesystem, so :func:`os.replace` is atomic) and are renamed only when
the writer's block finishes without an exception.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def atomic_path(final: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``final``; rename it to ``final`` on success.

    The caller writes the temporary path (with any library: h5py, json, cv2);
    on an exception the temporary file is removed and ``final`` is untouched.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{final.name}.tmp-", dir=final.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        if tmp.exists():  # mkstemp makes 0600 files; give the usual umask-based mode
            os.chmod(tmp, 0o666 & ~_current_umask())
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_json(final: str | os.PathLike[str], obj: Any) -> None:
    """Write ``obj`` as indented JSON to ``final`` atomically."""
    with atomic_path(final) as tmp:
        tmp.write_text(json.dumps(obj, indent=2) + "\n", encoding="utf-8")


def read_json(path: str | os.PathLike[str], missing: str) -> Any:
    """Parse the JSON file ``path``; a one-line :class:`RefinetError` when it is missing or not JSON.

    ``missing`` is the message after ``"{path}: "`` when the file does not exist.
    """
    from .errors import RefinetError

    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RefinetError(f"{path}: {missing}") from None
    except json.JSONDecodeError as exc:
        raise RefinetError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})") from None
    except UnicodeDecodeError as exc:
        raise RefinetError(f"{path}: not valid JSON (not UTF-8: {exc.reason})") from None


def sha256_file(path: str | os.PathLike[str]) -> str:
    """The file's sha256 hex digest, read in 1 MiB blocks (checkpoint and export hashes)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def check_output_file(path: str | os.PathLike[str], option: str) -> None:
    """Before any work: a one-line error when ``path`` cannot become a file (a directory, under a file, read-only).

    ``option`` names the command-line option (``--json``) so the message says what to change.
    """
    from .errors import RefinetError

    path = Path(path)
    if path.is_dir():
        raise RefinetError(f"{option} {path}: is a directory; give a file path such as {path / 'report.json'}")
    _check_parent(path, option)


def check_output_dir(path: str | os.PathLike[str], option: str) -> None:
    """Before any work: a one-line error when ``path`` cannot become a directory (an existing file, read-only)."""
    from .errors import RefinetError

    path = Path(path)
    if path.exists() and not path.is_dir():
        raise RefinetError(f"{option} {path}: is a file; give a directory")
    _check_parent(path, option)


def _check_parent(path: Path, option: str) -> None:
    from .errors import RefinetError

    parent = path.absolute().parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise RefinetError(f"{option} {path}: {parent} is a file, not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise RefinetError(f"{option} {path}: cannot write in {parent} (permission denied)")
