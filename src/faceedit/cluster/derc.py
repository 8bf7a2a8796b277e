"""DERC — Deep Embedded dimensionality-Reduction Clustering (the thesis's Algorithm 4.1).

Stage 1: train an autoencoder (:mod:`faceedit.cluster.model`) with the mean squared reconstruction error.
Stage 2, ``rounds`` times: encode every sample (Z, [N, d_z]), reduce Z with t-SNE to R ([N, 2]), fit a K-component
Gaussian mixture to R (soft assignments p_ij, [N, K]), then train the encoder for ``round_epochs`` epochs on the
probabilistic triplet loss of triplets drawn from those assignments (:mod:`faceedit.cluster.triplet`) plus
``alpha`` × the reconstruction loss. The clustering is the mixture fitted after the last round.

Training is time-bounded (``time_budget`` seconds: when it runs out, the remaining training is skipped and the
clusters come from the encoder as it is) and resumable: with a ``run_dir`` the model, optimiser and progress are
checkpointed after every epoch and round, and ``resume=True`` continues from there.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from faceedit.cluster.embed import fit_mixture, tsne, tsne_backend
from faceedit.cluster.model import build_autoencoder
from faceedit.cluster.result import ClusterResult, Stage
from faceedit.cluster.training import Budget, Stopwatch, as_input, encode_all, run_epochs
from faceedit.cluster.triplet import TripletSampler, probabilistic_triplet_loss
from faceedit.errors import FaceEditError

CHECKPOINT_NAME = "derc.pt"


@dataclass
class DercConfig:
    """``k`` clusters; stage 1: ``pretrain_epochs`` at learning rate ``lr``; stage 2: ``rounds`` × ``round_epochs``
    at ``finetune_lr`` with loss triplet + ``alpha`` × reconstruction, triplet ``margin``; t-SNE ``perplexity``
    and ``tsne`` backend (see :mod:`faceedit.cluster.embed`); ``threads`` for t-SNE; ``batch_size`` samples
    (anchors in stage 2); ``carry_mixture``: also start each round's mixture from the previous round's clusters and
    keep that fit when it explains the points as well (default False: a fresh fit every round, as in the thesis;
    it did 0.2–0.3 points better on MNIST, see benchmarks/README.md)."""

    k: int
    pretrain_epochs: int = 40
    rounds: int = 4
    round_epochs: int = 4
    batch_size: int = 128
    lr: float = 2e-3
    finetune_lr: float = 1e-3
    alpha: float = 0.7
    margin: float = 0.5
    perplexity: float = 30.0
    tsne: str = "auto"
    seed: int = 0
    threads: int = 1
    carry_mixture: bool = False

    def __post_init__(self) -> None:
        if int(self.k) < 2:
            raise FaceEditError(f"the number of clusters must be at least 2, got {self.k}")
        limits = {"pretrain_epochs": (0, 10_000), "rounds": (0, 100), "round_epochs": (0, 1000),
                  "batch_size": (2, 4096), "threads": (1, 256)}
        for name, (lo, hi) in limits.items():
            if not lo <= int(getattr(self, name)) <= hi:
                raise FaceEditError(f"DERC {name} must be {lo}–{hi}, got {getattr(self, name)}")
        if not (self.lr > 0 and self.finetune_lr > 0 and self.alpha >= 0 and self.margin >= 0
                and 2 <= self.perplexity <= 500):
            raise FaceEditError("DERC: learning rates must be > 0, alpha and margin >= 0, perplexity 2–500")
        tsne_backend(self.tsne)


def reduce_and_mix(features: np.ndarray, k: int, perplexity: float = 30.0, seed: int = 0, threads: int = 1,
                   backend: str = "auto", stages: list[Stage] | None = None, tag: str = "",
                   evaluate: Callable[[np.ndarray], dict] | None = None, init_labels: np.ndarray | None = None):
    """t-SNE of ``features`` [N, D] to [N, 2], then a K-component mixture (started from ``init_labels`` when
    given); appends timed stages. Returns ``(points [N, 2], mixture)``."""
    watch = Stopwatch()
    with watch:
        points = tsne(features, perplexity=perplexity, seed=seed, threads=threads, backend=backend)
    if stages is not None:
        stages.append(Stage(f"t-SNE{tag}", watch.cpu, watch.wall))
    watch = Stopwatch()
    with watch:
        mix = fit_mixture(points, k, seed=seed, init_labels=init_labels)
    if stages is not None:
        info = evaluate(mix.labels) if evaluate is not None else {}
        stages.append(Stage(f"GMM{tag}", watch.cpu, watch.wall, info))
    return points, mix


class Derc:
    """Runs DERC on one data tensor with one autoencoder (see the module docstring)."""

    def __init__(self, model: nn.Module, data: torch.Tensor, cfg: DercConfig, run_dir: str | Path | None = None,
                 progress: bool = True, log: Callable[[str], None] | None = None):
        if len(data) < cfg.k:
            raise FaceEditError(f"{len(data)} samples cannot form {cfg.k} clusters: give at least {cfg.k}")
        self.model, self.data, self.cfg = model, data, cfg
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.progress = progress
        self.log = log or (lambda msg: None)
        self.rng = np.random.default_rng(cfg.seed)
        torch.manual_seed(cfg.seed)
        self.opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
        self.epochs_done = 0
        self.rounds_done = 0
        self.labels: np.ndarray | None = None  # the last round's clusters (carry_mixture starts the next fit there)

    # ------------------------------------------------------------------ checkpoint
    @property
    def checkpoint_path(self) -> Path | None:
        return self.run_dir / CHECKPOINT_NAME if self.run_dir is not None else None

    def save(self) -> None:
        if self.checkpoint_path is None:
            return
        from faceedit.train.checkpoint import save_checkpoint

        save_checkpoint(self.checkpoint_path, {
            "kind": "derc", "model_config": self.model.config(), "model": self.model.state_dict(),
            "optimizer": self.opt.state_dict(), "epochs_done": self.epochs_done, "rounds_done": self.rounds_done,
            "config": asdict(self.cfg), "n": len(self.data),
            "labels": torch.from_numpy(self.labels) if self.labels is not None else torch.zeros(0)})

    def restore(self) -> bool:
        """Load the run folder's checkpoint if there is one; returns whether it did."""
        path = self.checkpoint_path
        if path is None or not path.is_file():
            return False
        from faceedit.train.checkpoint import load_checkpoint

        state = load_checkpoint(path)
        if state.get("kind") != "derc":
            raise FaceEditError(f"{path} is not a DERC checkpoint")
        if state.get("model_config") != self.model.config():
            raise FaceEditError(f"{path} was trained with another model ({state.get('model_config')}); "
                                "use another --run-dir or the same settings")
        if int(state.get("n", -1)) != len(self.data) or int(state["config"]["k"]) != self.cfg.k:
            raise FaceEditError(f"{path} belongs to a run on {state.get('n')} samples with k = "
                                f"{state['config']['k']}: use another --run-dir")
        self.model.load_state_dict(state["model"])
        if int(state["rounds_done"]) == 0:
            self.opt.load_state_dict(state["optimizer"])
        self.epochs_done, self.rounds_done = int(state["epochs_done"]), int(state["rounds_done"])
        labels = state.get("labels")
        self.labels = labels.numpy() if labels is not None and len(labels) == len(self.data) else None
        self.log(f"resumed {path}: {self.epochs_done} pretraining epochs, {self.rounds_done} rounds done")
        return True

    # ------------------------------------------------------------------ stages
    def _recon_step(self, idx: np.ndarray) -> float:
        x = as_input(self.data[torch.from_numpy(idx)])
        _, recon = self.model(x)
        loss = F.mse_loss(recon, x)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        return loss.item()

    def pretrain(self, budget: Budget, stages: list[Stage]) -> bool:
        """Stage 1 up to ``pretrain_epochs``; returns whether it finished."""
        todo = range(self.epochs_done, self.cfg.pretrain_epochs)
        if not len(todo):
            return True
        self.model.train()
        last = {}

        def after(epoch: int, loss: float) -> None:
            self.epochs_done = epoch + 1
            last["loss"] = loss
            self.save()

        watch = Stopwatch()
        with watch:
            done = run_epochs(self._recon_step, len(self.data), todo, self.cfg.batch_size, self.rng, budget,
                              "autoencoder", self.progress, after)
        stages.append(Stage("autoencoder", watch.cpu, watch.wall,
                            {"epochs": done, "recon_mse": round(last.get("loss", float("nan")), 5)}))
        return done == len(todo)

    def finetune_round(self, mix_proba: np.ndarray, budget: Budget, stages: list[Stage], r: int) -> bool:
        """One stage-2 round of triplet + alpha × reconstruction training; returns whether it finished."""
        sampler = TripletSampler(mix_proba, seed=self.cfg.seed + 1000 + r)
        opt = torch.optim.Adam(self.model.parameters(), lr=self.cfg.finetune_lr)
        cfg, model, data = self.cfg, self.model, self.data
        model.train()

        def step(idx: np.ndarray) -> float:
            pos, neg, w_pos, w_neg = sampler.draw(idx)
            b = len(idx)
            x = as_input(data[torch.from_numpy(np.concatenate([idx, pos, neg]))])
            z = model.encode(x)
            loss = probabilistic_triplet_loss(z[:b], z[b:2 * b], z[2 * b:], torch.from_numpy(w_pos),
                                              torch.from_numpy(w_neg), cfg.margin)
            if cfg.alpha > 0:
                loss = loss + cfg.alpha * F.mse_loss(model.decode(z[:b]), x[:b])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            return loss.item()

        last = {}
        watch = Stopwatch()
        with watch:
            done = run_epochs(step, len(data), range(cfg.round_epochs), cfg.batch_size, self.rng, budget,
                              f"DERC round {r + 1}/{cfg.rounds}", self.progress,
                              lambda e, loss: last.update(loss=loss))
        stages.append(Stage(f"triplet round {r + 1}", watch.cpu, watch.wall,
                            {"epochs": done, "loss": round(last.get("loss", float("nan")), 5)}))
        return done == cfg.round_epochs

    def _carried(self) -> np.ndarray | None:
        return self.labels if self.cfg.carry_mixture else None

    def run(self, time_budget: float | None = None, resume: bool = False,
            evaluate: Callable[[np.ndarray], dict] | None = None) -> ClusterResult:
        """The whole algorithm; ``evaluate(labels) -> dict`` (e.g. ACC / NMI against known classes) is recorded
        after every mixture fit."""
        cfg = self.cfg
        budget = Budget(time_budget)
        stages: list[Stage] = []
        if resume:
            self.restore()
        complete = self.pretrain(budget, stages)
        for r in range(self.rounds_done, cfg.rounds):
            if not complete:
                break
            self.log(f"DERC round {r + 1}/{cfg.rounds}: encode, t-SNE, mixture")
            _, mix = reduce_and_mix(encode_all(self.model, self.data), cfg.k, cfg.perplexity, cfg.seed, cfg.threads,
                                    cfg.tsne, stages, f" round {r + 1}", evaluate, self._carried())
            self.labels = mix.labels
            if stages[-1].info:
                self.log(f"DERC round {r + 1}: mixture before training: {stages[-1].info}")
            if len(np.unique(mix.labels)) < 2:  # no negatives to draw: nothing for the triplet loss to do
                self.log("DERC: the mixture put every sample in one cluster; the rounds stop here")
                break
            complete = self.finetune_round(mix.proba, budget, stages, r)
            if complete:
                self.rounds_done = r + 1
                self.save()
        self.log("DERC: final encode, t-SNE, mixture")
        feats = encode_all(self.model, self.data)
        points, mix = reduce_and_mix(feats, cfg.k, cfg.perplexity, cfg.seed, cfg.threads, cfg.tsne, stages,
                                     " final", evaluate, self._carried())
        note = "" if complete else (f"time budget reached after {self.epochs_done}/{cfg.pretrain_epochs} "
                                    f"pretraining epochs and {self.rounds_done}/{cfg.rounds} rounds; "
                                    "clusters are from the partly trained encoder")
        return ClusterResult(mix.labels, mix.proba, points, feats, stages, complete, note)


def load_derc_model(run_dir: str | Path) -> nn.Module:
    """The autoencoder of a DERC run folder (its checkpoint), in eval mode."""
    from faceedit.train.checkpoint import load_checkpoint

    path = Path(run_dir) / CHECKPOINT_NAME
    if not path.is_file():
        raise FaceEditError(f"no DERC checkpoint in {run_dir}")
    state = load_checkpoint(path)
    model = build_autoencoder(state["model_config"])
    model.load_state_dict(state["model"])
    return model.eval()


__all__ = ["ClusterResult", "Derc", "DercConfig", "Stage", "load_derc_model", "reduce_and_mix"]
