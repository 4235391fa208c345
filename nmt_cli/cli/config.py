"""``--config FILE`` (every command) and ``train --dump-config FILE``: options in a YAML file.

A config file is one YAML mapping from option names (``max-steps`` or ``max_steps``) to values; it
gives the command's defaults, so an option on the command line still wins. ``train --dump-config``
writes every option of the command as it resolved, in that form, and exits: ``--config`` reads it
back. A key that is not an option of the command, or a file that is not such a mapping, is a usage
error naming the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

# Parameters that are no option values to keep in a file.
NOT_SETTINGS = ("config", "dump_config", "help", "explicit")


def load(ctx: typer.Context, param: typer.CallbackParam, value: Path | None) -> Path | None:
    """The eager ``--config`` callback: the file's options become the command's defaults."""
    if value is None:
        return None
    import yaml

    try:
        data = yaml.safe_load(value.read_text(encoding="utf-8"))
    except OSError as err:
        raise typer.BadParameter(f"{value}: {err.strerror or err}") from None
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        where = getattr(err, "problem_mark", None)
        line = f":{where.line + 1}" if where is not None else ""
        raise typer.BadParameter(f"{value}{line}: not valid YAML") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise typer.BadParameter(f"{value}: a mapping of option names to values is needed")
    names = {p.name for p in ctx.command.params if p.name not in NOT_SETTINGS}
    repeatable = {p.name for p in ctx.command.params if getattr(p, "multiple", False)}
    found: dict[str, Any] = {}
    for key, item in data.items():
        name = str(key).removeprefix("--").replace("-", "_")
        if name not in names:
            raise typer.BadParameter(f"{value}: {key!r} is not an option of nmt {ctx.command.name}")
        found[name] = list(item) if isinstance(item, list) else [item] if name in repeatable else item
    ctx.default_map = {**(ctx.default_map or {}), **found}
    return value


Config = Annotated[
    Path | None,
    typer.Option(
        "--config",
        metavar="FILE",
        is_eager=True,
        callback=load,
        show_default=False,
        help="Read options from this YAML file (option: value); options on the command line win.",
        rich_help_panel="Options",
    ),
]


def dump(given: dict[str, Any], order: list[str], where: str, skip: tuple[str, ...] = ()) -> None:
    """Write the resolved options as YAML to ``where`` ('-' = stdout), in a form ``--config`` reads,
    in ``order`` (the command's parameters as declared)."""
    import yaml

    from nmt_cli.textio import write_lines

    values = {
        name.replace("_", "-"): _plain(given[name])
        for name in order
        if name in given and name not in NOT_SETTINGS and name not in skip
    }
    write_lines(where, yaml.safe_dump(values, sort_keys=False, allow_unicode=True).splitlines())


def _plain(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    return value
