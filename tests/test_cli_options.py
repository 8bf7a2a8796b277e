"""The command line speaks one language: a short flag means one thing in every command, the output and quiet
options have the same names everywhere (older long names still work), and ``faceedit --version``."""

from __future__ import annotations

from pathlib import Path

import click
import typer
from PIL import Image

from faceedit import __version__
from faceedit.cli import app, main

#: Short flag → what it means (the option's long names, any of them).
MEANING = {
    "-m": {"--model"},
    "-o": {"--out"},
    "-q": {"--quiet"},
    "-l": {"--layers"},
    "-s": {"--seed", "--seeds"},
    "-k": {"--keep"},
    "-a": {"--attr"},
    "-n": {"--frames", "--count"},   # how many images to draw
    "-w": {"--workers"},
    "-p": {"--port"},
    "-t": {"--trunc"},
    "-e": {"--edit"},
    "-c": {"--channel"},
    "-d": {"--attr-direction"},
}


def _options():
    """(command path, click.Option) for every option of every command."""
    out = []

    def walk(cmd: click.Command, path: str) -> None:
        out.extend((path, p) for p in cmd.params if isinstance(p, click.Option))
        for name, sub in getattr(cmd, "commands", {}).items():
            walk(sub, f"{path} {name}")

    walk(typer.main.get_command(app), "faceedit")
    return out


def test_every_short_flag_has_one_meaning():
    wrong = []
    for path, opt in _options():
        names = set(opt.opts) | set(opt.secondary_opts)
        for short in (n for n in names if not n.startswith("--")):
            if short not in MEANING:
                wrong.append(f"{path}: {short} is not in MEANING (give it one meaning for every command)")
            elif not names & MEANING[short]:
                wrong.append(f"{path}: {short} is {sorted(names)}, elsewhere {sorted(MEANING[short])}")
    assert not wrong, "\n".join(wrong)


def test_output_and_quiet_options_have_the_same_names_everywhere():
    """Every output option answers to -o, --out and --output; every no-progress flag to -q, --quiet and
    --no-progress; every --model to -m."""
    groups = {"--out": {"--out", "--output", "-o"}, "--output": {"--out", "--output", "-o"},
              "--quiet": {"--quiet", "--no-progress", "-q"}, "--no-progress": {"--quiet", "--no-progress", "-q"},
              "--model": {"--model", "-m"}}
    wrong = []
    for path, opt in _options():
        names = set(opt.opts) | set(opt.secondary_opts)
        for name, want in groups.items():
            if name in names and names != want:
                wrong.append(f"{path}: {sorted(names)}, want {sorted(want)}")
    assert not wrong, "\n".join(wrong)


def test_old_long_names_still_work(tmp_path: Path):
    assert main(["generate", "--seeds", "3", "--output", str(tmp_path / "a.png")]) == 0
    assert main(["generate", "-s", "3", "-o", str(tmp_path / "b.png")]) == 0
    a, b = (Image.open(tmp_path / f"{n}.png") for n in "ab")
    assert a.size == b.size and a.tobytes() == b.tobytes()


def test_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"faceedit {__version__}"
