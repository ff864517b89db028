"""The command-line reference, generated from the typer app (``refinet_edge.cli.app``), so it cannot drift.

    python scripts/cli_reference.py > cli.md     # what the MkDocs hook (scripts/mkdocs_hooks.py) writes as cli.md

One section per verb (``report compare`` and other sub-verbs included), in the order ``--help`` lists them:
the verb's help text, its usage line and a table of every option and argument (flags, type, default, help).
A verb that hands its options to a parser of its own (``allow_extra_args`` and no declared parameters, as
``bench-kernels`` does) gets that parser's ``--help`` output instead, as the user sees it.
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Iterator
from typing import Any

import typer.main

PROG = "refinet-edge"


# Typer (0.29) builds its commands on a click of its own (``typer._click``), so the classes are not click's:
# commands and parameters are read by their attributes (``commands``, ``params``, ``opts``, ``param_type_name``).
Command = Any


def root_command() -> Command:
    """The command group typer builds from ``refinet_edge.cli.app`` (every verb registered, as at run time)."""
    from refinet_edge.cli import app

    command = typer.main.get_command(app)
    assert hasattr(command, "commands"), "refinet_edge.cli.app is not a group of verbs"
    return command


def verbs(group: Command, prefix: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Command]]:
    """(path, command) for every leaf verb under ``group``, depth first, in registration order."""
    for name, command in group.commands.items():
        if command.hidden:
            continue
        path = (*prefix, name)
        if hasattr(command, "commands"):
            yield from verbs(command, path)
        else:
            yield path, command


def is_option(param: Any) -> bool:
    return bool(param.param_type_name == "option")


def option_flags(param: Any) -> list[str]:
    """Every spelling of an option (``--point-cloud``, ``--no-point-cloud``); an argument's upper-case name."""
    if is_option(param):
        return [*param.opts, *param.secondary_opts]
    return [(param.name or "").upper()]


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _default(param: Any) -> str:
    if param.required:
        return "required"
    default = param.default
    if default is None or callable(default) or default == "":
        return ""
    if isinstance(default, bool) and is_option(param) and param.secondary_opts:
        return f"`{param.opts[0] if default else param.secondary_opts[0]}`"
    if isinstance(default, bool) and is_option(param) and param.is_flag and not default:
        return ""
    if isinstance(default, list | tuple):
        default = ",".join(str(d) for d in default)
    return f"`{default}`"


def _type(param: Any, ctx: Any) -> str:
    if is_option(param) and param.is_flag:
        return "flag"
    return _cell(param.display_type(ctx).strip("<>"))


def _context(path: tuple[str, ...], command: Command) -> Any:
    return command.context_class(command, info_name=" ".join((PROG, *path)))


def _usage(path: tuple[str, ...], command: Command) -> str:
    ctx = _context(path, command)
    return f"{ctx.command_path} {' '.join(command.collect_usage_pieces(ctx))}".rstrip()


def verb_section(path: tuple[str, ...], command: Command) -> str:
    """The Markdown section of one verb."""
    lines = [f"## `{PROG} {' '.join(path)}`", ""]
    if command.help:
        lines += [inspect.cleandoc(command.help), ""]
    lines += ["```text", _usage(path, command), "```", ""]
    params = [p for p in command.params if p.name != "help" and not getattr(p, "hidden", False)]
    ctx = _context(path, command)
    if params:
        lines += ["| option | type | default | help |", "|---|---|---|---|"]
        for param in params:
            flags = ", ".join(f"`{f}`" for f in option_flags(param))
            help_text = _cell(getattr(param, "help", None) or "")
            lines.append(f"| {flags} | {_type(param, ctx)} | {_default(param)} | {help_text} |")
        lines.append("")
    if command.context_settings.get("allow_extra_args"):
        lines += ["Further `--KEY VALUE` options are accepted and passed on (see the help text above).", ""]
    return "\n".join(lines)


def render(group: Command | None = None) -> str:
    """The whole reference page (Markdown)."""
    group = group or root_command()
    found = list(verbs(group))
    lines = ["# Command-line reference", "",
             "Generated from the typer app (`refinet_edge.cli.app`) by `scripts/cli_reference.py` at every docs "
             "build, so it lists what the installed command accepts. Every verb also has `--help`.", "",
             inspect.cleandoc(group.help or ""), "",
             "| verb | does |", "|---|---|"]
    for path, command in found:
        anchor = "-".join((PROG, *path)).replace(" ", "-")
        summary = _cell(command.get_short_help_str(limit=120))
        lines.append(f"| [`{' '.join(path)}`](#{anchor}) | {summary} |")
    lines.append("")
    lines += [verb_section(path, command) for path, command in found]
    return "\n".join(lines).rstrip() + "\n"


def missing_from(markdown: str, group: Command | None = None) -> list[str]:
    """What a reference page lacks: every verb's heading and, in its section, every option's flags."""
    group = group or root_command()
    missing = []
    for path, command in verbs(group):
        heading = f"## `{PROG} {' '.join(path)}`"
        if heading not in markdown:
            missing.append(f"verb {' '.join(path)}")
            continue
        section = markdown.split(heading, 1)[1].split("\n## ", 1)[0]
        for param in command.params:
            if param.name == "help" or getattr(param, "hidden", False):
                continue
            missing += [f"{' '.join(path)} {flag}" for flag in option_flags(param) if f"`{flag}`" not in section]
    return missing


if __name__ == "__main__":
    sys.stdout.write(render())
