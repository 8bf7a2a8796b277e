"""What the commands share: options (``--model``, ``-o/--out``, ``-q/--quiet``, ``-l/--layers``), their help
texts, seed ranges, command groups.

One meaning per short flag across every command: ``-m`` model, ``-o`` where the output goes (``--out``; the older
``--output`` still works), ``-q`` quiet (``--no-progress`` still works), ``-l`` w+ layers, ``-s`` seed(s), ``-k``
attributes to keep, ``-a`` attribute(s), ``-n`` how many images to draw (frames, seeds), ``-w`` worker processes,
``-p`` port, ``-t`` truncation, ``-e`` an edit, ``-c`` a channel, ``-d`` an attribute direction
(``tests/test_cli_options.py`` holds the table).

    def mix(model: ModelOpt = "default", out: Path = typer.Option(Path("mix.png"), *OUT, help="output image")): ...
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from faceedit.limits import MAX_SEEDS, parse_int_ranges

MODEL_HELP = "'default' (embedded), a registry name (see 'faceedit models list') or a checkpoint path"
FACE_HELP = "a face: seed (12 or seed:12), latent file (.npz/.npy, file.npz#N for row N) or photo"
TRUNC_HELP = "truncation ψ for faces given as seeds (1 = none)"
LAYERS_HELP = ("w+ layers: coarse (0-3), middle (4-7), fine (8-end), all, or ranges like 4-7, 8-, '0-3,10' "
               "(groups follow resolution: coarse 4²–8², middle 16²–32², fine 64² and up)")
#: The names of the model option.
MODEL = ("--model", "-m")
#: ``model: ModelOpt = "default"``: the model a command draws with.
ModelOpt = Annotated[str, typer.Option(*MODEL, help=MODEL_HELP)]
#: The names of the output option: ``typer.Option(default, *OUT, help=...)`` (the help says what is written).
OUT = ("--out", "--output", "-o")
#: The names of the no-progress-bar flag: ``typer.Option(False, *QUIET, help=...)``.
QUIET = ("--quiet", "-q", "--no-progress")
#: The names of the w+ layers option.
LAYERS = ("--layers", "-l")
#: The names of the truncation option: ``typer.Option(0.7, *TRUNC, help=...)``.
TRUNC = ("--trunc", "-t")
#: ``trunc: TruncOpt = 0.7``: truncation ψ of faces given as seeds.
TruncOpt = Annotated[float, typer.Option(*TRUNC, help=TRUNC_HELP)]
#: ``threads: ThreadsOpt = None``: torch CPU threads (None: the default of :mod:`faceedit.threads`, which the
#: root command already applied; pass a given count to :func:`faceedit.threads.set_threads`).
ThreadsOpt = Annotated[Optional[int], typer.Option("--threads", min=1, help="CPU threads (default: the cores not "
                                                   "busy, 1 on a loaded machine; or $FACEEDIT_THREADS)")]
#: ``save_latents: SaveLatentsOpt = None``: also write the result's w+ to an .npz.
SaveLatentsOpt = Annotated[Optional[Path], typer.Option("--save-latents", help="write the result's w+ (one row per "
                                                                                 "image) to an .npz")]


def parse_seeds(text: str, max_count: int = MAX_SEEDS) -> list[int]:
    """'0-15' → 0..15; '1,4,7-9' → [1, 4, 7, 8, 9]. Seeds are 0 to 2**32-1; at most ``max_count`` of them,
    counted before any range is expanded."""
    return parse_int_ranges(text, "seed list", 0, 2 ** 32 - 1, max_count)


GROUP_HELP = {
    "eval": "Evaluate edits and models.",
    "train": "Train models: the StyleGAN2 generator (gan, export), the attribute classifier, the face parser, the "
             "inversion encoder (encoder, export-encoder).",
}


def command_group(app: typer.Typer, name: str) -> typer.Typer:
    """The sub-command group ``name`` of ``app`` (e.g. 'eval', 'train'), created if no module added it yet, so
    that several modules can add commands to one group whatever their registration order."""
    for info in getattr(app, "registered_groups", []):
        sub = info.typer_instance
        if sub is not None and (info.name or getattr(sub.info, "name", None)) == name:
            return sub
    group = typer.Typer(help=GROUP_HELP[name], no_args_is_help=True, add_completion=False)
    app.add_typer(group, name=name)
    return group
