"""``--help`` as people read it: usage, what the command does, options in titled panels, examples.

Typer's own Rich layout gives every option six columns (long name, short name, negative long,
negative short, type, help), which at 80 columns cuts names (``--no-input-fee…``). Here an option
is two columns: its names with a metavar, in full (``-o, --out DIR``, ``--[no-]bridge``), and its help,
wrapped, with the choices and the default. Panels come from each option's ``rich_help_panel``; the
command's ``epilog`` is printed as-is under "Examples".
"""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
import typer.core

from nmt_cli.cli.common import OneLineErrors

if TYPE_CHECKING:  # (rich loads when help is shown, not for every command)
    from rich.console import Console
    from rich.panel import Panel
    from rich.table import Table
    from rich.text import Text

ARGUMENTS = "Arguments"
OPTIONS = "Options"
NAME_WIDTH = 30  # names longer than this push their help to the next line


def _console() -> Console:
    from rich.console import Console

    return Console(highlight=False, soft_wrap=False)


def _paragraphs(text: str) -> list[str]:
    """A docstring -> paragraphs, single line breaks joined (a paragraph starting with \\b is kept as is)."""
    out = []
    for para in inspect.cleandoc(text).split("\n\n"):
        out.append(para[1:].strip("\n") if para.startswith("\b") else " ".join(para.split()))
    return out


def _annotation(param: Any) -> Any:
    """The parameter's Python type, ``X | None`` and ``list[X]`` unwrapped."""
    kind = param.type_descriptor.annotation
    while typing.get_origin(kind) in (types.UnionType, typing.Union, list):
        kind = next(a for a in typing.get_args(kind) if a is not type(None))
    return kind


def _choices(param: Any) -> tuple[str, ...]:
    kind = _annotation(param)
    return tuple(map(str, typing.get_args(kind))) if typing.get_origin(kind) is typing.Literal else ()


def _metavar(param: Any) -> str:
    if getattr(param, "is_flag", False):
        return ""
    if param.metavar:
        return str(param.metavar)
    if _choices(param):
        return str(param.name).upper().replace("_", "-")
    kind = _annotation(param)
    return {int: "N", float: "X", Path: "PATH"}.get(kind, "TEXT")


def _names(param: Any) -> str:
    """``-o, --out DIR``, ``--[no-]bridge``, ``--quiet``, or an argument's metavar."""
    if isinstance(param, typer.core.TyperArgument):
        return str(param.metavar or param.name).upper()
    shorts = [o for o in param.opts if not o.startswith("--")]
    longs = [o for o in param.opts if o.startswith("--")]
    if param.secondary_opts and len(longs) == 1 and param.secondary_opts == ["--no-" + longs[0][2:]]:
        longs = ["--[no-]" + longs[0][2:]]
    elif param.secondary_opts:
        longs += param.secondary_opts
    text = ", ".join(shorts + longs)
    metavar = _metavar(param)
    return f"{text} {metavar}" if metavar else text


def _default(param: Any) -> str | None:
    if param.show_default is False or param.required:
        return None
    value = param.default
    if callable(value) or value is None or value == () or value == []:
        return None
    if getattr(param, "is_flag", False):
        if not param.secondary_opts:
            return None
        return param.opts[-1] if value else param.secondary_opts[-1]
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value) if value != "" else None


def _help(param: Any) -> Text:
    from rich.text import Text

    text = Text(" ".join(str(getattr(param, "help", "") or "").split()))
    choices = _choices(param)
    if choices:
        text.append(f" Choices: {', '.join(map(str, choices))}.", style="dim")
    default = _default(param)
    if default is not None:
        text.append(f" [default: {default}]", style="dim")
    if param.required:
        text.append(" [required]", style="dim red")
    return text


def _table(rows: Iterable[tuple[str, Text]]) -> Table:
    from rich.table import Table
    from rich.text import Text

    rows = list(rows)
    width = min(NAME_WIDTH, max((len(n) for n, _ in rows), default=0))
    table = Table.grid(padding=(0, 2), expand=True)
    table.add_column(no_wrap=True, min_width=width, max_width=width, style="bold cyan")
    table.add_column(ratio=1, overflow="fold")
    for name, help_text in rows:
        if len(name) > width:  # the name on its own line, in full; the help under it
            table.add_row(Text(name, no_wrap=True, overflow="ignore"), "")
            table.add_row("", help_text)
        else:
            table.add_row(Text(name), help_text)
    return table


def _panel(title: str, body: Any) -> Panel:
    from rich.panel import Panel
    from rich.text import Text

    return Panel(body, title=Text(title), title_align="left", border_style="dim", padding=(0, 1))


def panels(command: Any, ctx: Any) -> dict[str, list[Any]]:
    """Visible parameters by panel title, in declaration order (arguments first)."""
    found: dict[str, list[Any]] = {ARGUMENTS: []}
    for param in command.get_params(ctx):
        if getattr(param, "hidden", False):
            continue
        default = ARGUMENTS if isinstance(param, typer.core.TyperArgument) else OPTIONS
        found.setdefault(getattr(param, "rich_help_panel", None) or default, []).append(param)
    if [p.name for p in found.get(OPTIONS, [])] == ["help"]:  # -h alone: everyone knows it
        del found[OPTIONS]
    return {title: params for title, params in found.items() if params}


def _usage_pieces(command: Any, ctx: Any) -> list[str]:
    pieces = ["[OPTIONS]"]
    for param in command.get_params(ctx):
        if isinstance(param, typer.core.TyperArgument) and not param.hidden:
            name = str(param.metavar or param.name).upper()
            pieces.append(name if param.required or name.startswith("[") else f"[{name}]")
    if getattr(command, "commands", None):
        pieces.append("COMMAND [ARGS]...")
    return pieces


def render(command: Any, ctx: Any) -> None:
    from rich.console import Group
    from rich.padding import Padding
    from rich.text import Text

    con = _console()
    usage = " ".join([ctx.command_path, *_usage_pieces(command, ctx)])
    con.print(Padding(Text(f"Usage: {usage}", style="bold"), (1, 1, 0, 1)))
    for para in _paragraphs(command.help or ""):
        con.print(Padding(Text(para), (1, 1, 0, 1)))
    con.print()
    for title, params in panels(command, ctx).items():
        con.print(_panel(title, _table((_names(p), _help(p)) for p in params)))
    commands = getattr(command, "commands", None)
    if commands:
        rows = [
            (name, Text(cmd.get_short_help_str(limit=200)))
            for name, cmd in commands.items()
            if not cmd.hidden
        ]
        con.print(_panel("Commands", _table(rows)))
    if command.epilog:
        lines = inspect.cleandoc(command.epilog).splitlines()
        con.print(_panel("Examples", Group(*(Text(line) for line in lines))))


class Command(typer.core.TyperCommand):
    """A command whose ``--help`` is :func:`render`'s."""

    def format_help(self, ctx: Any, formatter: Any) -> None:
        render(self, ctx)


class Nmt(OneLineErrors):
    """The ``nmt`` group: one-line errors, and :func:`render`'s help."""

    def format_help(self, ctx: Any, formatter: Any) -> None:
        render(self, ctx)
