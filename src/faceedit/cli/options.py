"""Option parsing shared by CLI modules (seed ranges, model spec)."""

from __future__ import annotations

import typer

from faceedit.errors import FaceEditError

MODEL_HELP = "'default' (embedded), a registry name (see 'faceedit models list') or a checkpoint path"
ModelOption = typer.Option("default", "--model", "-m", help=MODEL_HELP)

MAX_SEEDS = 100_000


def parse_seeds(text: str) -> list[int]:
    """'0-15' → 0..15; '1,4,7-9' → [1, 4, 7, 8, 9]. Seeds are 0 to 2**32-1."""
    seeds: list[int] = []
    for part in text.replace(" ", "").split(","):
        if not part:
            continue
        try:
            if "-" in part[1:]:
                a, b = part.split("-", 1) if not part.startswith("-") else (part, "")
                lo, hi = int(a), int(b)
                if hi < lo:
                    raise ValueError
                if hi - lo + 1 + len(seeds) > MAX_SEEDS:
                    raise FaceEditError(f"too many seeds in {text!r} (at most {MAX_SEEDS})")
                seeds.extend(range(lo, hi + 1))
            else:
                seeds.append(int(part))
        except ValueError:
            raise FaceEditError(f"bad seed list {text!r}: use numbers and ranges like 0-15 or 1,4,7-9") from None
    if not seeds:
        raise FaceEditError(f"bad seed list {text!r}: no seeds")
    for s in seeds:
        if not 0 <= s < 2 ** 32:
            raise FaceEditError(f"seed {s} is out of range (0 to 4294967295)")
    return seeds


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
