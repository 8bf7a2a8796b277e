"""Export a run's checkpoint as fp16 safetensors weights (G_ema, G, D) with the model card."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from faceedit.errors import FaceEditError
from faceedit.nn import Discriminator, DiscriminatorConfig, Generator, GeneratorConfig
from faceedit.train import checkpoint as ckpt
from faceedit.train.gan import CHECKPOINT_NAME, make_card


def networks_from_checkpoint(state: dict[str, Any]):
    G_ema = Generator(GeneratorConfig.from_dict(state["g_config"]))
    G = Generator(GeneratorConfig.from_dict(state["g_config"]))
    D = Discriminator(DiscriminatorConfig.from_dict(state["d_config"]))
    ckpt.load_into(G_ema, state["G_ema"], "G_ema")
    ckpt.load_into(G, state["G"], "G")
    ckpt.load_into(D, state["D"], "D")
    return G_ema, G, D


def export_run(run_dir: str | Path, output: str | Path, fp16: bool = True, include_d: bool = True,
               extra_card: dict | None = None) -> dict[str, Any]:
    """RUN_DIR/checkpoint.pt → OUTPUT (.safetensors, card in its metadata and beside it as <stem>.json)."""
    run_dir, output = Path(run_dir), Path(output)
    path = run_dir / CHECKPOINT_NAME if run_dir.is_dir() else run_dir
    if not path.is_file():
        raise FaceEditError(f"no training checkpoint in {run_dir}")
    state = ckpt.load_checkpoint(path)
    G_ema, G, D = networks_from_checkpoint(state)
    card = make_card(state["g_config"], state["d_config"], state["train_config"], state["totals"],
                     state.get("data_info", {}), state["step"])
    realism_log = path.parent / "realism.jsonl"
    if realism_log.is_file():  # milestones measured with `faceedit eval realism --model RUN_DIR`
        import json

        card["milestones"] = [json.loads(line) for line in realism_log.read_text().splitlines() if line.strip()]
    card.update(extra_card or {})
    ckpt.export_weights(output, G_ema, G if include_d else None, D if include_d else None, card=card,
                        dtype=torch.float16 if fp16 else torch.float32)
    return card
