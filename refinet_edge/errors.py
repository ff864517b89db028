"""The one exception type for user errors.

Anything the user can fix (a missing file, a wrong HDF5 layout, an unknown
camera preset, an empty split) raises :class:`RefinetError` with a message that
says what failed, what was expected and, where it helps, what to try. The CLI
prints that message on one line and exits non-zero, without a traceback; every
other exception is our bug and keeps its traceback.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

T = TypeVar("T")


class RefinetError(Exception):
    """A problem with the user's input, files or settings (not a bug)."""


def did_you_mean(value: str, choices: list[str] | tuple[str, ...]) -> str:
    """Return ' (did you mean X?)' for the closest choice, or ''."""
    import difflib

    close = difflib.get_close_matches(value, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def lookup(table: Mapping[str, T], name: str, what: str, valid: str = "valid") -> T:
    """``table[name]``; an unknown name raises "unknown {what} 'x' (did you mean ...); {valid}: a, b, c"."""
    try:
        return table[name]
    except KeyError:
        raise RefinetError(f"unknown {what} {name!r}{did_you_mean(name, list(table))}; "
                           f"{valid}: {', '.join(table)}") from None
