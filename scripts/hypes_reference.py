"""The hypes keys table, generated from the schema the loader checks (``refinet_edge.hypes.SCHEMA``).

    python scripts/hypes_reference.py      # the Markdown table the docs' training page shows

One row per ``section.key``: the JSON types accepted, the default ("required" when there is none), the accepted
values or range where the loader checks one, and whether the key changes nothing here (the authors' keys in
``NO_EFFECT``); then the keys of the free-form ``preprocess.patch/points/skeleton`` objects.
"""

from __future__ import annotations

import json
import sys

MARKER = "<!-- generated: hypes keys -->"


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _types(types: tuple[type, ...], names: dict[type, str]) -> str:
    return ", ".join(names.get(t, t.__name__) for t in types)


def render() -> str:
    from refinet_edge import hypes

    lines = ["| key | accepts | default | values | note |", "|---|---|---|---|---|"]
    for (section, key), (types, default) in hypes.SCHEMA.items():
        dotted = f"{section}.{key}" if section else key
        shown = "required" if default is hypes.REQUIRED else f"`{json.dumps(default)}`"
        if section == "model" and default is hypes.REQUIRED:
            shown = "the preset's"
        values = ""
        if (section, key) in hypes.CHOICES:
            values = ", ".join(f"`{c}`" for c in hypes.CHOICES[section, key])
        elif (section, key) in hypes.CHECKS:
            values = hypes.CHECKS[section, key][1]
        note = "no effect here (the authors' key)" if dotted in hypes.NO_EFFECT else ""
        lines.append(f"| `{dotted}` | {_cell(_types(types, hypes._TYPE_NAMES))} | {shown} | {_cell(values)} "
                     f"| {note} |")
    lines += ["", "| `preprocess.` object | keys | modes |", "|---|---|---|"]
    for kind, keys in hypes.PREPROCESS_KEYS.items():
        modes = ", ".join(f"`{m}`" for m in hypes.PREPROCESS_MODES.get(kind, ()))
        lines.append(f"| `{kind}` | {', '.join(f'`{k}`' for k in keys)} | {modes} |")
    return "\n".join(lines) + "\n"


def keys_missing_from(markdown: str) -> list[str]:
    """Every schema key whose row ``| `key` |`` the Markdown lacks."""
    from refinet_edge import hypes

    dotted = [f"{s}.{k}" if s else k for s, k in hypes.SCHEMA]
    return [key for key in dotted if f"| `{key}` |" not in markdown]


def expand(page: str) -> str:
    """A page with the marker line replaced by the table (unchanged when it has no marker)."""
    return page.replace(MARKER, render()) if MARKER in page else page


if __name__ == "__main__":
    sys.stdout.write(render())
