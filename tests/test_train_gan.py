"""StyleGAN2 training: losses, EMA, lazy R1, style mixing, checkpoints/resume, DDP (gloo), time budget, CLI."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from faceedit.train import augment, losses
from faceedit.train.checkpoint import load_checkpoint, read_weights
from faceedit.train.ema import ema_beta, update_ema
from faceedit.limits import parse_duration
from faceedit.train.gan import TrainConfig, Trainer, train

TINY = dict(resolution=16, batch=8, z_dim=32, w_dim=32, channel_base=256, channel_max=32, mapping_layers=2,
            threads=1, progress=False, log_seconds=0.0)


@pytest.fixture(scope="module")
def data_file(tmp_path_factory) -> Path:
    """A small uint8 image set made here: smooth random blobs, [N, 3, 16, 16]."""
    g = torch.Generator().manual_seed(1)
    base = torch.rand(32, 3, 4, 4, generator=g)
    imgs = torch.nn.functional.interpolate(base, size=(16, 16), mode="bilinear", align_corners=False)
    arr = (imgs * 255).round().to(torch.uint8).numpy()
    path = tmp_path_factory.mktemp("data") / "tiny.npy"
    np.save(path, arr)
    return path


def _cfg(data_file, run_dir, **kw) -> TrainConfig:
    return TrainConfig(data=str(data_file), run_dir=str(run_dir), **{**TINY, **kw})


def test_diffaugment_shapes_and_gradients():
    x = torch.randn(4, 3, 16, 16, requires_grad=True)
    y = augment.diff_augment(x, "color,translation,cutout")
    assert y.shape == x.shape
    y.sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    # cutout zeroes a square of (16/2)^2 pixels per sample (maybe less at the border), translation keeps size
    c = augment.rand_cutout(torch.ones(8, 1, 16, 16))
    zeros = (c == 0).sum(dim=[1, 2, 3])
    assert (zeros > 0).all() and (zeros <= 64).all()
    t = augment.rand_translation(torch.ones(8, 1, 16, 16))
    assert t.shape == (8, 1, 16, 16) and (t.sum(dim=[1, 2, 3]) >= 14 * 14).all()
    assert augment.parse_policy("none") == ()
    with pytest.raises(ValueError):
        augment.parse_policy("color,bogus")


def test_ema_rampup_and_update():
    # early in training the ramp-up shortens the half-life: beta smaller than at the end
    early = ema_beta(32, cur_nimg=320, ema_kimg=10, rampup=0.05)
    late = ema_beta(32, cur_nimg=10_000_000, ema_kimg=10, rampup=0.05)
    assert early < late < 1
    assert math.isclose(late, 0.5 ** (32 / 10_000))
    assert math.isclose(early, 0.5 ** (32 / 16))
    a, b = torch.nn.Linear(3, 3), torch.nn.Linear(3, 3)
    before = a.weight.detach().clone()
    update_ema(a, b, 0.25)
    assert torch.allclose(a.weight, b.weight.detach().lerp(before, 0.25))


def test_style_mixing_splices_two_latents():
    from faceedit.nn import Generator, GeneratorConfig

    torch.manual_seed(0)
    G = Generator(GeneratorConfig(z_dim=32, w_dim=32, resolution=16, channel_base=256, channel_max=32,
                                  mapping_layers=2))
    z = torch.randn(4, 32)
    _, ws = losses.generate(G, z, style_mixing_prob=1.0, return_ws=True)
    ws0 = G.mapping(z)
    assert torch.allclose(ws[:, 0], ws0[:, 0])  # the first layer always comes from z
    assert not torch.allclose(ws[:, -1], ws0[:, -1])  # the last always from the second latent
    _, ws_plain = losses.generate(G, z, style_mixing_prob=0.0, return_ws=True)
    assert torch.allclose(ws_plain, ws0)


def test_lazy_r1_interval_losses_finite_and_params_move(data_file, tmp_path):
    cfg = _cfg(data_file, tmp_path / "run", r1_interval=2)
    tr = Trainer(cfg)
    imgs = torch.from_numpy(np.load(data_file))
    g0 = [p.detach().clone() for p in tr.G.parameters()]
    d0 = [p.detach().clone() for p in tr.D.parameters()]
    from faceedit.train.dataset import sample_batch

    seen = []
    for _ in range(4):
        st = tr.train_step(sample_batch(imgs, cfg.batch, True))
        assert all(math.isfinite(v) for v in st.values())
        seen.append("r1" in st)
    assert seen == [True, False, True, False]
    assert any(not torch.equal(a, b) for a, b in zip(g0, tr.G.parameters()))
    assert any(not torch.equal(a, b) for a, b in zip(d0, tr.D.parameters()))
    # lazy-regularisation adjustment of Adam (c = 2/3 for D, none for G without path length)
    assert math.isclose(tr.opt_D.param_groups[0]["lr"], 0.0025 * 2 / 3)
    assert math.isclose(tr.opt_D.param_groups[0]["betas"][1], 0.99 ** (2 / 3))
    assert math.isclose(tr.opt_G.param_groups[0]["lr"], 0.0025)
    assert tr.cur_nimg == 4 * cfg.batch
    # G_ema differs from G (averaged) but is finite
    assert all(torch.isfinite(p).all() for p in tr.G_ema.parameters())


def test_discriminator_learns_on_fixed_generator(data_file, tmp_path):
    """With G frozen, a few D steps lower the D loss (the loss is wired the right way round)."""
    cfg = _cfg(data_file, tmp_path / "run", augment="none", r1_interval=1000, d_lr=0.01)
    tr = Trainer(cfg)
    imgs = torch.from_numpy(np.load(data_file))
    from faceedit.train.dataset import sample_batch

    torch.manual_seed(3)
    z = torch.randn(16, 32)
    real = sample_batch(imgs, 16, False)

    def d_loss():
        with torch.no_grad():
            fake = tr.G(z)
            return losses.d_loss_logistic(tr.D(real), tr.D(fake))

    first = d_loss().item()
    tr.D.requires_grad_(True)
    for _ in range(15):
        fake = tr.G(z).detach()
        loss = losses.d_loss_logistic(tr.D(real), tr.D(fake))
        loss.backward()
        tr.opt_D.step()
        tr.opt_D.zero_grad()
    assert d_loss().item() < first


def test_adaptive_threads_follow_the_spare_cores(data_file, tmp_path, monkeypatch):
    """--adapt-threads: the trainer asks SpareCores at every check and switches torch's thread count, logging it."""
    import faceedit.threads as threads_mod
    import faceedit.train.gan as gan_mod

    answers = iter([1, 2, 2, 1] + [1] * 100)
    monkeypatch.setattr(gan_mod, "THREADS_SECONDS", 0.0)
    monkeypatch.setattr(threads_mod.SpareCores, "threads", lambda self: next(answers))
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        run = tmp_path / "run"
        train(_cfg(data_file, run, max_steps=5, threads=2, adapt_threads=True), log=lambda *a: None)
        events = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
        assert [e["threads"] for e in events if e["event"] == "threads"] == [1, 2, 1]
        fixed = tmp_path / "fixed"
        train(_cfg(data_file, fixed, max_steps=2, threads=2), log=lambda *a: None)
        assert not [line for line in (fixed / "log.jsonl").read_text().splitlines() if '"threads"' in line
                    and json.loads(line)["event"] == "threads"]
    finally:
        torch.set_num_threads(before)


def test_run_writes_log_samples_checkpoint_and_resumes(data_file, tmp_path):
    run = tmp_path / "run"
    s1 = train(_cfg(data_file, run, max_steps=3), log=lambda *a: None)
    assert s1["reason"] == "max_steps" and s1["steps"] == 3
    assert (run / "checkpoint.pt").is_file() and (run / "samples" / "latest.png").is_file()
    from PIL import Image

    with Image.open(run / "samples" / "latest.png") as im:
        assert im.size == (8 * 16, 4 * 16)
    assert not [p for p in run.rglob(".*tmp*")]  # atomic writes leave no temp files
    events = [json.loads(line)["event"] for line in (run / "log.jsonl").read_text().splitlines()]
    assert events[0] == "start" and "progress" in events and events[-1] == "end"
    state = load_checkpoint(run / "checkpoint.pt")
    assert state["step"] == 3 and state["cur_nimg"] == 24 and state["totals"]["cpu_hours"] > 0
    # second run resumes: counts continue
    s2 = train(_cfg(data_file, run, max_steps=2), log=lambda *a: None)
    assert s2["kimg"] == pytest.approx(0.040)
    state2 = load_checkpoint(run / "checkpoint.pt")
    assert state2["step"] == 5 and state2["totals"]["runs"] == 2
    assert state2["totals"]["cpu_hours"] > state["totals"]["cpu_hours"]


def test_time_budget_stops_cleanly_with_checkpoint(data_file, tmp_path):
    run = tmp_path / "run"
    t0 = time.time()
    s = train(_cfg(data_file, run, time_budget=1.5), log=lambda *a: None)
    assert s["reason"] == "time_budget" and s["steps"] >= 1
    assert time.time() - t0 < 60
    assert load_checkpoint(run / "checkpoint.pt")["step"] == s["steps"]


def test_export_and_resume_from_fp16_weights(data_file, tmp_path):
    from faceedit.train.export import export_run

    run = tmp_path / "run"
    train(_cfg(data_file, run, max_steps=2), log=lambda *a: None)
    out = tmp_path / "w.safetensors"
    card = export_run(run, out)
    assert card["kimg"] == pytest.approx(0.016) and "research-only" in card["licence"]
    meta, groups = read_weights(out)
    assert set(groups) == {"G_ema", "G", "D"} and meta["g_config"]["resolution"] == 16
    from safetensors import safe_open

    with safe_open(str(out), framework="pt") as f:
        assert f.get_tensor("G_ema.synthesis.b4.const").dtype == torch.float16
    # a new machine (no run folder) continues from the weights: totals carry on, fresh optimiser
    run2 = tmp_path / "run2"
    s = train(_cfg(data_file, run2, max_steps=1, resume_from=str(out), z_dim=64), log=lambda *a: None)
    assert s["kimg"] == pytest.approx(0.024)
    state = load_checkpoint(run2 / "checkpoint.pt")
    assert state["g_config"]["z_dim"] == 32  # the architecture comes from the weights
    tr = Trainer(_cfg(data_file, tmp_path / "run3", resume_from=str(out)))
    ema_w = tr.G_ema.synthesis.b4.const
    assert torch.allclose(ema_w, groups["G_ema"]["synthesis.b4.const"])


#: The keys of a run folder's checkpoint.pt (a format long trainings resume from: it must not change).
CHECKPOINT_KEYS = {"D", "G", "G_ema", "augment", "cur_nimg", "d_config", "data_info", "format", "g_config", "opt_D",
                   "opt_G", "pl_mean", "rng", "saved_at", "step", "totals", "train_config", "version"}


def test_cli_resumes_a_run_folder_and_a_saved_state(data_file, tmp_path, capsys):
    """`train gan` continues from RUN_DIR/checkpoint.pt; `train save-state` writes a file that `train gan
    --resume-from` continues from on a fresh run folder; the checkpoint keeps its keys."""
    from faceedit.cli import main

    tiny = ["--data", str(data_file), "--res", "16", "--batch", "8", "--z-dim", "32", "--w-dim", "32",
            "--channel-base", "256", "--channel-max", "32", "--threads", "1", "--no-progress", "--sample-minutes",
            "100"]
    run, fresh = tmp_path / "run", tmp_path / "fresh"
    assert main(["train", "gan", *tiny, "--run-dir", str(run), "--steps", "2"]) == 0
    first = load_checkpoint(run / "checkpoint.pt")
    assert set(first) == CHECKPOINT_KEYS and first["step"] == 2
    assert main(["train", "gan", *tiny, "--run-dir", str(run), "--steps", "1", "--lr", "0.001"]) == 0
    second = load_checkpoint(run / "checkpoint.pt")
    assert second["step"] == 3 and second["cur_nimg"] == 24 and second["totals"]["runs"] == 2
    start = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()
             if json.loads(line)["event"] == "start"]
    assert start[-1]["resumed_from"] == str(run / "checkpoint.pt") and start[-1]["step"] == 2
    state = tmp_path / "state.safetensors"
    assert main(["train", "save-state", str(run), "-o", str(state)]) == 0
    meta, groups = read_weights(state)
    assert meta["train_state"]["step"] == 3 and {"G", "G_ema", "D"} <= set(groups)
    assert main(["train", "gan", *tiny, "--run-dir", str(fresh), "--resume-from", str(state), "--steps", "1"]) == 0
    third = load_checkpoint(fresh / "checkpoint.pt")
    assert set(third) == CHECKPOINT_KEYS and third["step"] == 4 and third["cur_nimg"] == 32
    assert third["totals"]["kimg"] == pytest.approx(0.032)
    capsys.readouterr()


def test_resume_from_weights_rejects_other_files(data_file, tmp_path):
    from faceedit.errors import FaceEditError

    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a safetensors file")
    with pytest.raises(FaceEditError):
        Trainer(_cfg(data_file, tmp_path / "run", resume_from=str(bad)))


def test_fp16_needs_a_gpu_and_pl_regulariser_runs(data_file, tmp_path):
    from faceedit.errors import FaceEditError

    if not torch.cuda.is_available():
        with pytest.raises(FaceEditError):
            Trainer(_cfg(data_file, tmp_path / "run", precision="fp16", device="cpu"))
    tr = Trainer(_cfg(data_file, tmp_path / "run2", pl_weight=2.0, pl_interval=2))
    assert math.isclose(tr.opt_G.param_groups[0]["lr"], 0.0025 * 2 / 3)
    from faceedit.train.dataset import sample_batch

    imgs = torch.from_numpy(np.load(data_file))
    st = tr.train_step(sample_batch(imgs, 8, True))
    assert "pl" in st and math.isfinite(st["pl"]) and float(tr.pl_mean) > 0


def test_parse_duration():
    assert parse_duration("2h") == 7200 and parse_duration("1h30m") == 5400 and parse_duration("90") == 90
    from faceedit.errors import FaceEditError

    with pytest.raises(FaceEditError):
        parse_duration("2x")


def _cli(*args) -> list[str]:
    return [sys.executable, "-m", "faceedit", *args]


def test_sigkill_mid_run_then_resume(data_file, tmp_path):
    run = tmp_path / "run"
    args = ["train", "gan", "--data", str(data_file), "--res", "16", "--batch", "8", "--z-dim", "32", "--w-dim",
            "32", "--channel-base", "256", "--channel-max", "32", "--threads", "1", "--run-dir", str(run),
            "--checkpoint-minutes", "0.005", "--log-seconds", "0", "--no-progress"]
    proc = subprocess.Popen(_cli(*args, "--steps", "100000"), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 120
        ck = run / "checkpoint.pt"
        while time.time() < deadline:
            if ck.is_file() and load_checkpoint(ck)["step"] >= 3:
                break
            assert proc.poll() is None, proc.stderr.read().decode()
            time.sleep(0.2)
        else:
            pytest.fail("no checkpoint written in time")
        time.sleep(0.3)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    state = load_checkpoint(run / "checkpoint.pt")  # whatever moment it died at, the file is whole
    step_killed = state["step"]
    assert step_killed >= 3
    r = subprocess.run(_cli(*args, "--steps", "2"), capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stderr
    after = load_checkpoint(run / "checkpoint.pt")
    assert after["step"] == step_killed + 2
    assert after["cur_nimg"] == (step_killed + 2) * 8
    last = json.loads((run / "log.jsonl").read_text().splitlines()[-1])
    assert last["event"] == "end" and math.isfinite(after["totals"]["kimg"])
    for k in ("G", "G_ema", "D"):
        assert all(torch.isfinite(v).all() for v in after[k].values() if v.is_floating_point())


def test_cli_bad_data_is_a_user_error(tmp_path):
    from faceedit.cli import main

    rc = main(["train", "gan", "--data", str(tmp_path / "missing"), "--run-dir", str(tmp_path / "r")])
    assert rc == 2
    rc = main(["train", "export", str(tmp_path / "nothing"), "-o", str(tmp_path / "w.safetensors")])
    assert rc == 2


def _ddp_worker(rank: int, world: int, init_file: str, data: str, run_dir: str, out_dir: str) -> None:
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        cfg = TrainConfig(data=data, run_dir=run_dir, max_steps=2, **TINY)
        tr = Trainer(cfg, rank=rank, world_size=world, log=lambda *a: None)
        s = tr.run(torch.from_numpy(np.load(data)))
        torch.save({"summary": s, "G": tr.G.state_dict(), "D": tr.D.state_dict()},
                   os.path.join(out_dir, f"rank{rank}.pt"))
    finally:
        dist.destroy_process_group()


def test_ddp_gloo_two_processes(data_file, tmp_path):
    import torch.multiprocessing as mp

    run = tmp_path / "run"
    mp.spawn(_ddp_worker, args=(2, str(tmp_path / "init"), str(data_file), str(run), str(tmp_path)), nprocs=2,
             join=True)
    r0, r1 = torch.load(tmp_path / "rank0.pt"), torch.load(tmp_path / "rank1.pt")
    assert r0["summary"]["steps"] == r1["summary"]["steps"] == 2
    # gradients are averaged over the processes: both hold the same weights after the steps
    # (w_avg is tracked per process, as in NVIDIA's DDP training; rank 0's is saved)
    for k in ("G", "D"):
        for name, v in r0[k].items():
            if name.endswith("w_avg"):
                continue
            assert torch.allclose(v, r1[k][name], atol=1e-6), (k, name)
    state = load_checkpoint(run / "checkpoint.pt")
    assert state["cur_nimg"] == 16  # global batch 8 per step, 4 per process
    assert state["train_config"]["batch"] == 8
    assert all(torch.isfinite(v).all() for v in state["G"].values() if v.is_floating_point())


def test_torchrun_cli_two_processes(data_file, tmp_path):
    """`torchrun --nproc_per_node 2 -m faceedit train gan ...` (gloo on CPU) through the real CLI."""
    import shutil
    import socket

    torchrun = shutil.which("torchrun") or str(Path(sys.executable).with_name("torchrun"))
    if not Path(torchrun).exists():
        pytest.skip("torchrun not installed")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    run = tmp_path / "run"
    r = subprocess.run([torchrun, "--nproc_per_node", "2", "--master_port", str(port), "-m", "faceedit", "train",
                        "gan", "--data", str(data_file), "--res", "16", "--batch", "8", "--z-dim", "32", "--w-dim",
                        "32", "--channel-base", "256", "--channel-max", "32", "--threads", "1", "--steps", "2",
                        "--run-dir", str(run), "--no-progress"], capture_output=True, text=True, timeout=240)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "2 process(es)" in r.stderr
    state = load_checkpoint(run / "checkpoint.pt")
    assert state["step"] == 2 and state["cur_nimg"] == 16


def test_compile_failure_falls_back_to_eager(data_file, tmp_path, monkeypatch):
    def broken_compile(fn, *a, **k):
        def run(*args, **kwargs):
            raise RuntimeError("compiler unavailable")
        return run

    monkeypatch.setattr(torch, "compile", broken_compile)
    logs = []
    tr = Trainer(_cfg(data_file, tmp_path / "run", compile=True), log=logs.append)
    imgs = torch.from_numpy(np.load(data_file))
    from faceedit.train.dataset import sample_batch

    st = tr.train_step(sample_batch(imgs, 8, True))
    assert math.isfinite(st["loss_G"]) and tr.D_main is tr.D and any("compile failed" in m for m in logs)
    assert "forward" not in tr.G.synthesis.__dict__


# ----------------------------------------------------------------- adaptive augmentation, feature D, state files
def test_adaptive_p_follows_the_sign_of_d_real():
    ada = augment.AdaptiveP(target=0.6, speed_kimg=1.0, interval=2)
    for _ in range(4):  # D sure of every real: r_t = 1 > 0.6 → p goes up by 8·2/1000 per interval
        ada.observe(torch.ones(8), batch=8)
    assert ada.p == pytest.approx(2 * 16 / 1000) and ada.rt == 1.0
    for _ in range(100):
        ada.observe(-torch.ones(8), batch=8)
    assert ada.p == 0.0  # clamped
    x = torch.rand(16, 3, 8, 8) * 2 - 1
    assert torch.equal(augment.diff_augment(x, "color,translation,cutout", p=0.0), x)
    torch.manual_seed(0)
    some = augment.diff_augment(x, "cutout", p=0.5)
    changed = (some != x).flatten(1).any(1)
    assert 0 < changed.sum() < 16  # about half the images got a cutout


@pytest.fixture(scope="module")
def data32(tmp_path_factory) -> Path:
    g = torch.Generator().manual_seed(2)
    imgs = torch.nn.functional.interpolate(torch.rand(24, 3, 4, 4, generator=g), size=(32, 32), mode="bilinear")
    path = tmp_path_factory.mktemp("data32") / "tiny32.npy"
    np.save(path, (imgs * 255).round().to(torch.uint8).numpy())
    return path


def _fd_cfg(data, run, **kw):
    return _cfg(data, run, resolution=32, random_vgg=True, **kw)


def test_projected_discriminator_trains_resumes_and_saves_state(data32, tmp_path):
    from faceedit.train.export import export_state

    run = tmp_path / "run"
    tr = Trainer(_fd_cfg(data32, run, d_features="projected", ada_target=0.6, ada_kimg=0.05))
    head0 = [p.detach().clone() for p in tr.FD.heads.parameters()]
    d0 = [p.detach().clone() for p in tr.D.parameters()]
    from faceedit.data.images import load_images

    imgs = load_images(data32, 32)
    tr.cfg.max_steps = 3
    tr.run(imgs)
    assert any(not torch.equal(a, b) for a, b in zip(head0, tr.FD.heads.parameters()))  # the heads learn
    assert all(torch.equal(a, b) for a, b in zip(d0, tr.D.parameters()))  # the StyleGAN2 D is not used
    assert not any(p.requires_grad for p in tr.FD.parameters()) and not any(p.requires_grad for p in tr.FD.vgg.parameters())
    log = [json.loads(l) for l in (run / "log.jsonl").read_text().splitlines()]
    prog = [r for r in log if r["event"] == "progress"]
    assert "loss_FD" in prog[-1] and "aug_p" in prog[-1]
    p_after = tr.ada.p
    # resume from the run folder: the heads, the projections and p come back exactly
    tr2 = Trainer(_fd_cfg(data32, run, ada_target=0.6))
    assert tr2.cfg.d_features == "projected" and tr2.ada.p == pytest.approx(p_after)
    for (k, a), b in zip(tr.FD.state_dict().items(), tr2.FD.state_dict().values()):
        assert torch.equal(a, b), k
    # the committed state file: a new machine continues with the step, kimg, p and the heads (fp16)
    state_file = tmp_path / "state.safetensors"
    export_state(run, state_file)
    tr3 = Trainer(_fd_cfg(data32, tmp_path / "fresh", ada_target=0.6, warmup_steps=4,
                          resume_from=str(state_file)))
    assert tr3.step == 3 and tr3.cur_nimg == 24 and tr3.cfg.d_features == "projected"
    assert tr3.ada.p == pytest.approx(p_after)
    for a, b in zip(tr.FD.heads.parameters(), tr3.FD.heads.parameters()):
        assert torch.allclose(a, b, atol=2e-3 * max(1.0, a.abs().max().item()))
    base = tr3.opt_G.param_groups[0]["lr"]
    tr3.cfg.max_steps = 1
    tr3.run(imgs)
    assert tr3.opt_G.param_groups[0]["lr"] == pytest.approx(base / 4)  # first warm-up step: a quarter
    from faceedit import api

    m = api.load(str(state_file))  # the state file is an ordinary model file too
    assert m.generate(seeds=[1]).images.shape == (1, 32, 32, 3)


def test_aided_discriminator_adds_its_loss(data32, tmp_path):
    s = train(_fd_cfg(data32, tmp_path / "run", d_features="aided", aided_weight=0.5, max_steps=2,
                      snapshot_kimg=0.008), log=lambda *a: None)
    assert s["steps"] == 2
    log = [json.loads(l) for l in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    prog = [r for r in log if r["event"] == "progress"]
    assert "loss_G_FD" in prog[-1] and "loss_FD" in prog[-1] and "loss_D" in prog[-1]
    snaps = sorted((tmp_path / "run" / "snapshots").glob("*.safetensors"))
    assert [p.name for p in snaps] == ["kimg000000.safetensors"] or len(snaps) == 2
    meta, groups = read_weights(snaps[-1])
    assert set(groups) == {"G_ema"} and meta["card"]["step"] >= 1


def test_bad_feature_discriminator_settings(data32, tmp_path):
    from faceedit.errors import FaceEditError

    with pytest.raises(FaceEditError, match="--d-features"):
        Trainer(_fd_cfg(data32, tmp_path / "r", d_features="clip"))
    with pytest.raises(FaceEditError, match="at least 32 px"):
        Trainer(_cfg(data32, tmp_path / "r2", random_vgg=True, d_features="projected"))  # 16 px


def test_overfit_probe_logs_d_on_held_out_faces(data_file, tmp_path):
    from faceedit.data.images import load_images

    imgs = load_images(data_file, 16)
    tr = Trainer(_cfg(data_file, tmp_path / "run", max_steps=2))
    tr.val_images = imgs[:8]
    tr.run(imgs[8:])
    prog = [json.loads(l) for l in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    prog = [r for r in prog if r["event"] == "progress"]
    assert {"D_train_clean", "D_val", "D_overfit_gap"} <= set(prog[-1])
    assert prog[-1]["D_overfit_gap"] == pytest.approx(prog[-1]["D_train_clean"] - prog[-1]["D_val"], abs=1e-3)


def test_feature_discriminator_scales_features_to_unit_rms_once():
    """VGG activations on caffe-scaled input are large: unscaled, the spectral-norm heads gave logits in the
    hundreds and the hinge loss diverged at once. The first batch fixes per-stage scales; later batches keep them."""
    from faceedit.features.vgg import VGG
    from faceedit.train.projected import FeatureDiscriminator

    torch.manual_seed(0)
    vgg = VGG("vgg16")
    with torch.no_grad():
        for p in vgg.parameters():
            p.mul_(3.0)  # activations grow layer by layer, as with real weights on 0-255 input
    fd = FeatureDiscriminator(32, vgg=vgg)
    x = torch.rand(4, 3, 32, 32) * 2 - 1
    feats = fd.features(x)
    for f in feats:
        assert f.float().square().mean().sqrt().item() == pytest.approx(1.0, rel=1e-3)
    scale = fd.feature_scale.clone()
    assert bool((scale > 0).all()) and float(scale.min()) < 0.1  # it did shrink large features
    fd.features(x * 0.5)
    assert torch.equal(fd.feature_scale, scale)  # fixed after the first batch
    assert "feature_scale" in fd.state_dict()
    assert fd(x).abs().max().item() < 50
