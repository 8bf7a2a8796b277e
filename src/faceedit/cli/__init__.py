"""The ``faceedit`` command line.

Each area's commands live in a module of this package that defines ``register(app)``; this module builds the
top-level app and turns every user error into one line on stderr and a non-zero exit status.
Set ``FACEEDIT_DEBUG=1`` to see the full traceback of an unexpected error.
"""

from __future__ import annotations

import importlib
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
    "cluster",
]

app = typer.Typer(
    name="faceedit",
    help="Edit faces with StyleGAN2: generate, align, invert, edit, animate. Works offline on the embedded model.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root() -> None:
    """Edit faces with StyleGAN2: generate, align, invert, edit, animate. Works offline on the embedded model."""


def _register_all() -> None:
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"faceedit.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"faceedit.cli.{name}":
                continue  # area not present in this build
            raise
        module.register(app)


_register_all()


def _fail(message: str, code: int = 2) -> int:
    print(f"error: {message}", file=sys.stderr)
    return code


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit status."""
    command = typer.main.get_command(app)
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
        return _fail(" ".join(exc.format_message().split()) + where)
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
