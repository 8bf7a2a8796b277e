"""The ``faceedit`` command line.

Each area's commands live in a module of this package that defines ``register(app)``; this module builds the
top-level app and turns every user error into one line on stderr and a non-zero exit status.
Set ``FACEEDIT_DEBUG=1`` to see the full traceback of an unexpected error.
"""

from __future__ import annotations

import importlib
import math
import os
import sys

import click
import typer

from faceedit.errors import FaceEditError

# Area modules, registered in this order (each defines ``register(app: typer.Typer)``).
COMMAND_MODULES = [
    "generate",
    "models",
    "align",
    "data",
    "train",
    "evaluate",
    "edit_ops",
    "edit_attrs",
    "directions",
    "scorers",
    "features",
    "faces",
    "invert",
    "serve",
    "register",
    "cluster",
    "batch_jobs",
    "stylize",
    "adapt",
    "masked",
    "analysis",
]

app = typer.Typer(
    name="faceedit",
    help="Edit faces with StyleGAN2: generate, align, invert, edit, animate. Works offline on the embedded model.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def _print_version(value: bool) -> None:
    if value:
        from faceedit import __version__

        print(f"faceedit {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: bool = typer.Option(False, "--version", is_eager=True, callback=_print_version,
                                       help="Print the version and exit."),
          threads: int = typer.Option(None, "--threads", min=1, help="CPU threads for any command (default: the "
                                      "cores not busy, 1 on a loaded machine; or $FACEEDIT_THREADS); a command's "
                                      "own --threads wins"),
          quiet: bool = typer.Option(False, "--quiet", "-q", "--no-progress", help="no progress on stderr from any command (progress "
                                     "shows only on a terminal anyway)")) -> None:
    """Edit faces with StyleGAN2: generate, align, invert, edit, animate. Works offline on the embedded model."""
    from faceedit.cli.progress import QUIET_ALL, quiet_bars
    from faceedit.threads import set_threads

    set_threads(threads)
    QUIET_ALL["on"] = quiet
    quiet_bars(quiet)


def _register_all() -> None:
    for name in COMMAND_MODULES:
        importlib.import_module(f"faceedit.cli.{name}").register(app)


_register_all()


class _Finite(click.ParamType):
    """A float option type that refuses NaN and ±inf (click's FLOAT and FloatRange accept them, and a NaN passes
    every range check), wrapping the option's own type so that its range and messages stay."""

    def __init__(self, inner: click.ParamType):
        self.inner = inner
        self.name = inner.name

    def convert(self, value, param, ctx):
        out = self.inner.convert(value, param, ctx)
        values = out if isinstance(out, (tuple, list)) else (out,)
        if any(isinstance(v, float) and not math.isfinite(v) for v in values):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return out

    def get_metavar(self, *args, **kwargs):
        return self.inner.get_metavar(*args, **kwargs)


def guard_options(command: click.Command) -> click.Command:
    """Make every float option and argument of ``command`` and its sub-commands refuse NaN and ±inf, and bound
    every whole-number option by :data:`faceedit.limits.OPTION_CAPS` (an option missing from it is unbounded: a
    test walks the tree and fails on one)."""
    from faceedit.limits import OPTION_CAPS

    for param in command.params:
        t = param.type
        if isinstance(t, click.types.FloatParamType):
            param.type = _Finite(t)
        elif isinstance(t, click.Tuple):
            t.types = [_Finite(x) if isinstance(x, click.types.FloatParamType) else x for x in t.types]
        elif isinstance(t, click.types.IntParamType) and getattr(t, "max", None) is None:
            cap = next((OPTION_CAPS[o] for o in param.opts if o in OPTION_CAPS), None)
            if cap is not None:
                low = cap[0] if getattr(t, "min", None) is None else max(cap[0], t.min)
                param.type = click.IntRange(low, cap[1])
    for sub in getattr(command, "commands", {}).values():
        guard_options(sub)
    return command


def _fail(message: str, code: int = 2) -> int:
    print(f"error: {message}", file=sys.stderr)
    return code


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit status."""
    command = guard_options(typer.main.get_command(app))
    try:
        result = command.main(args=argv, prog_name="faceedit", standalone_mode=False)
        return result if isinstance(result, int) else 0
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.exceptions.Abort:
        return _fail("aborted", 130)
    except KeyboardInterrupt:
        return _fail("interrupted", 130)
    except click.UsageError as exc:
        where = f" (see: {exc.ctx.command_path} --help)" if exc.ctx is not None else ""
        message = " ".join(exc.format_message().split()).replace(" (env var: 'None')", "")  # a typer quirk
        return _fail(message + where)
    except click.ClickException as exc:
        return _fail(" ".join(exc.format_message().split()))
    except FaceEditError as exc:
        return _fail(str(exc), exc.exit_code)
    except MemoryError:
        return _fail("out of memory: try a smaller --batch or image size", 3)
    except OSError as exc:
        if os.environ.get("FACEEDIT_DEBUG"):
            raise
        name = f": {exc.filename}" if getattr(exc, "filename", None) else ""
        return _fail(f"{exc.strerror or exc}{name}", 3)
    except Exception as exc:  # noqa: BLE001 - last resort: never show a traceback to a user
        if os.environ.get("FACEEDIT_DEBUG"):
            raise
        return _fail(f"internal error ({type(exc).__name__}: {' '.join(str(exc).split())}); "
                     "rerun with FACEEDIT_DEBUG=1 for details", 1)


def console_main() -> None:
    """Console-script wrapper: exit with :func:`main`'s status."""
    sys.exit(main())


if __name__ == "__main__":
    console_main()
