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


#: Fields of the training configuration a state file carries (the rest is the machine's or the command line's).
STATE_TRAIN_FIELDS = ("batch", "g_lr", "d_lr", "r1_gamma", "r1_interval", "pl_weight", "style_mixing", "ema_kimg",
                      "ema_rampup", "augment", "ada_target", "ada_kimg", "mirror", "precision", "d_features",
                      "aided_weight", "split", "seed")


def export_state(run_dir: str | Path, output: str | Path) -> dict[str, Any]:
    """RUN_DIR/checkpoint.pt → a resumable state file: fp16 G_ema, G, D (and the feature discriminator's heads),
    the step, images seen, totals and the augmentation state, in one .safetensors that is also an ordinary model
    file. ``train gan --resume-from FILE`` continues from it on any machine (Adam restarts with a warm-up).
    Small enough to commit: one path, overwritten at each session's end."""
    import json

    from safetensors.torch import save_file

    from faceedit import atomic
    from faceedit.io.native import FORMAT_VERSION, META_KEY

    run_dir, output = Path(run_dir), Path(output)
    path = run_dir / CHECKPOINT_NAME if run_dir.is_dir() else run_dir
    if not path.is_file():
        raise FaceEditError(f"no training checkpoint in {run_dir}")
    state = ckpt.load_checkpoint(path)
    card = make_card(state["g_config"], state["d_config"], state["train_config"], state["totals"],
                     state.get("data_info", {}), state["step"])
    tensors: dict[str, torch.Tensor] = {}
    for prefix in ("G_ema", "G", "D", "FD"):
        for k, v in state.get(prefix, {}).items():
            v = v.detach().cpu()
            tensors[f"{prefix}.{k}"] = (v.half() if v.is_floating_point() else v).contiguous()
    tc = state["train_config"]
    train_state = {"step": int(state["step"]), "cur_nimg": int(state["cur_nimg"]),
                   "augment": state.get("augment", {}), "d_features": tc.get("d_features", "none"),
                   "train_config": {k: tc.get(k) for k in STATE_TRAIN_FIELDS}}
    header = {"format_version": FORMAT_VERSION, "g_config": state["g_config"], "d_config": state["d_config"],
              "card": card, "dtype": "float16", "has_G": True, "train_state": train_state}
    with atomic.atomic_path(output) as tmp:
        save_file(tensors, str(tmp), metadata={META_KEY: json.dumps(header)})
    return card
