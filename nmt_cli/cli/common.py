"""What every command shares: mapping errors to exit codes, leaving fast, option helpers."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import typer
import typer.core

from nmt_cli.errors import EXIT_DATA, EXIT_INTERRUPTED, EXIT_USAGE, NmtError, UsageError

# GNU OpenMP threads spin ~300k times at every barrier before sleeping. An RNN runs thousands of
# small parallel regions per batch, so when another process holds a core the spinning threads wait
# for it at every barrier. Measured on 2 cores, demo model, tokens/s idle / with one core busy:
# default 13.7k / 0.44k, 5000 spins 13.1k / 4.9k. Set before torch loads libgomp; a user's own
# setting wins.
OPENMP_DEFAULTS = {"GOMP_SPINCOUNT": "5000"}

_program = {"on": False}  # True when run as the ``nmt`` program (not in-process by tests)


def as_program() -> None:
    _program["on"] = True


def version_line() -> str:
    """``nmt 0.1.0 (python 3.11.9, torch 2.13.0+cpu, ...)``: from package metadata, torch not imported."""
    import platform
    from importlib.metadata import PackageNotFoundError, version

    def of(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "not installed"

    parts = [f"python {platform.python_version()}"]
    parts += [f"{name} {of(name)}" for name in ("torch", "sentencepiece", "sacrebleu", "typer", "datasets")]
    return f"nmt {of('nmt-cli')} ({', '.join(parts)})"


def _err(message: str) -> None:
    sys.stderr.write(f"nmt: error: {message}\n")
    sys.stderr.flush()


def _silence_stdout() -> None:
    """After a broken pipe, point stdout at /dev/null so the interpreter's final flush is quiet."""
    try:
        fd = sys.stdout.fileno()
    except (OSError, ValueError):  # not a real stream (in-process runs): nothing will flush it to a fd
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    os.close(devnull)


def _settle_stdout() -> None:
    """Before leaving on an error: write what stdout holds, or, when stdout itself fails (a full disk,
    a closed pipe), drop it, so that the interpreter's final flush adds no second error."""
    try:
        sys.stdout.flush()
    except OSError:
        _silence_stdout()


@contextmanager
def guarded() -> Iterator[None]:
    """Map user-caused errors to one line on stderr and a documented exit code."""
    try:
        yield
    except NmtError as err:
        _settle_stdout()
        _err(str(err))
        raise typer.Exit(err.exit_code) from None
    except BrokenPipeError:
        _silence_stdout()
        raise typer.Exit(0) from None
    except EOFError:  # (Typer would turn it into a bare "Aborted")
        _err("unexpected end of input (a truncated compressed file?)")
        raise typer.Exit(EXIT_DATA) from None
    except OSError as err:  # a full disk, a read-only or vanished place: the OS's words, one line
        _settle_stdout()
        where = f"{err.filename}: " if err.filename else ""
        _err(f"{where}{err.strerror or err}")
        raise typer.Exit(EXIT_DATA) from None
    except KeyboardInterrupt:
        _err("interrupted")
        raise typer.Exit(EXIT_INTERRUPTED) from None


def run(fn: Callable[[], object]) -> None:
    """Run a command's body: OpenMP tamed before torch loads, errors mapped to exit codes."""
    for key, value in OPENMP_DEFAULTS.items():
        os.environ.setdefault(key, value)
    with guarded():
        fn()


def exit_now() -> None:
    """Leave without the interpreter's teardown, which costs ~0.27 s once torch is loaded.

    Only after a command finished normally and wrote everything: output files are closed by then
    and the standard streams are flushed here.
    """
    if not _program["on"]:  # called in-process (tests, CliRunner): return normally
        return
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (BrokenPipeError, ValueError):
            pass
    os._exit(0)


def options(ctx: typer.Context) -> dict[str, Any]:
    """The parsed options of the running command, by parameter name (the settings' field names)."""
    return dict(ctx.params)


def renamed(given: dict[str, Any], old: str, new: str, old_name: str, new_name: str) -> None:
    """An option's old spelling (a hidden parameter ``old``), kept for one release: a warning on
    stderr, and its value moved to ``new``. Both spellings at once is a usage error (call it inside
    :func:`run`)."""
    value = given.pop(old, None)
    if value is None or value is False:
        return
    sys.stderr.write(f"nmt: warning: {old_name} is now {new_name}; the old name goes in the next release\n")
    if given.get(new) not in (None, False):
        raise UsageError(f"give {new_name} only (not also {old_name})")
    given[new] = value


def parsed(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    """A Typer ``parser`` from one of ours: our usage errors become Click's (exit 2 while parsing)."""

    def parser(text: str) -> Any:
        try:
            return parse(text)
        except UsageError as err:
            raise typer.BadParameter(str(err)) from None

    return parser


# Click's base exception (recent Typer vendors Click; typer.BadParameter derives from it in every version).
_ClickException: type[Exception] = next(
    c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException"
)


class OneLineErrors(typer.core.TyperGroup):
    """The ``nmt`` group: a command-line error Click finds while parsing (unknown option, a value not
    among the choices) is one line on stderr, like every other error of the tool, with exit 2."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        def call() -> Any:
            return super(OneLineErrors, self).main(
                args, prog_name, complete_var, False, windows_expand_args, **extra
            )

        if not standalone_mode:
            return call()
        try:
            code = call()
        except _ClickException as err:
            message = err.format_message()  # type: ignore[attr-defined]
            if message:  # (empty after no_args_is_help has shown the help)
                _err(f"{message}{_help_hint(err)}")
            sys.exit(getattr(err, "exit_code", EXIT_USAGE))
        except typer.Abort:
            _err("aborted")
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)


def _help_hint(err: Exception) -> str:
    ctx = getattr(err, "ctx", None)
    return f" (see '{ctx.command_path if ctx is not None else 'nmt'} --help')"
