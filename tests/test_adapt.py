"""One-shot art adaptation (DIFA): the losses, the VGG embedding, the training loop on tiny generators (only the
synthesis layers train; resumable; a model file with its card), adapted model files and their source, bad input,
and the commands (``faceedit adapt``, ``faceedit edit --model ADAPTED``)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from faceedit.adapt.embed import VGGEmbedding
from faceedit.adapt.losses import directional_loss, scc_loss, scc_mask, token_loss
from faceedit.adapt.source import check_same_shape, require_adapted, source_model
from faceedit.adapt.training import AdaptConfig, adapt
from faceedit.errors import FaceEditError
from faceedit.features import VGG
from faceedit.io.native import save_native
from faceedit.model import load

from _edit_helpers import tiny_model
from _vgg_helpers import random_vgg_state

pytestmark = pytest.mark.usefixtures("one_torch_thread")
RES = 32
TINY_ENCODER = {"stem": 8, "channels": [8, 16, 16], "pyramid": 16, "head_channels": 4}


# ------------------------------------------------------------------------------------------------ losses
def test_directional_loss_measures_the_angle_to_the_domain_direction():
    a = torch.zeros(3, 4)
    d = torch.tensor([1.0, 0, 0, 0])
    assert directional_loss(a + d * 2, a, d).item() == pytest.approx(0.0, abs=1e-6)
    assert directional_loss(a - d, a, d).item() == pytest.approx(2.0, abs=1e-6)
    assert directional_loss(a + torch.tensor([0, 1.0, 0, 0]), a, d).item() == pytest.approx(1.0, abs=1e-6)


def test_token_loss_is_zero_on_the_target_and_takes_the_worse_direction():
    tgt = torch.eye(4)[None]  # four orthogonal tokens
    assert token_loss(tgt.clone(), tgt).item() == pytest.approx(0.0, abs=1e-6)
    # one token copied four times: every one of them has a perfect match (forward 0), but three target tokens
    # are matched by nothing (backward 3/4 · 1) → the max is 0.75
    same = tgt[:, :1].expand(1, 4, 4)
    assert token_loss(same, tgt).item() == pytest.approx(0.75, abs=1e-6)
    assert token_loss(torch.cat([tgt, same]), tgt).item() == pytest.approx(0.375, abs=1e-6)  # batch mean


def test_scc_mask_keeps_the_smallest_changes_and_the_loss_reads_only_them():
    delta = torch.tensor([[0.1, -5.0], [2.0, -0.01]])
    mask = scc_mask(delta, 0.5)
    assert mask.tolist() == [[True, False], [False, True]]
    assert scc_mask(delta, 0.0).sum() == 0 and scc_mask(delta, 1.0).all()
    with pytest.raises(FaceEditError):
        scc_mask(delta, 1.5)
    a = torch.zeros(2, 2, 2)
    b = a.clone()
    b[:, 0, 1] = 7.0  # only an unmasked entry differs
    assert scc_loss(b, a, mask).item() == 0.0
    b[:, 1, 1] = 2.0  # a masked one: mean over the 2 masked entries of each of 2 samples
    assert scc_loss(b, a, mask).item() == pytest.approx(1.0)


def test_vgg_embedding_pools_each_stage_to_unit_length_and_gives_tokens():
    vgg = VGG("vgg16", "torchvision").load_features(random_vgg_state())
    emb = VGGEmbedding(vgg, ("relu3_3", "relu4_3"), "relu2_2", side=64, bf16=False)
    g, tok = emb.embed(torch.rand(2, 3, 32, 32) * 2 - 1)
    assert g.shape == (2, 256 + 512) and tok.shape == (2, 32 * 32, 128)
    assert torch.allclose(g[:, :256].norm(dim=1), torch.ones(2), atol=1e-4)
    assert torch.allclose(g[:, 256:].norm(dim=1), torch.ones(2), atol=1e-4)
    with pytest.raises(FaceEditError, match="unknown VGG16 stage"):
        VGGEmbedding(vgg, ("relu9_9",), "relu2_2")


# ------------------------------------------------------------------------------------------------ training
@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A tiny 32-px source generator file, a random-weight VGG file and an aligned 'art' target."""
    root = tmp_path_factory.mktemp("adapt")
    m = tiny_model(RES)
    src = save_native(root / "source.safetensors", m.G, dtype=torch.float32)
    from safetensors.torch import save_file

    save_file(random_vgg_state(), str(root / "vgg.safetensors"))
    with torch.no_grad():
        img = m.G.synthesis(m.map(m.z_from_seeds([5]), 1.0), noise_mode="const")
    art = ((img[0].permute(1, 2, 0) * 0.3 + 0.6).clamp(0, 1) * 255).byte().numpy()  # a paler, "painted" face
    art[:, :, 2] = art[:, :, 2] // 2
    Image.fromarray(art).save(root / "art.png")
    return root, Path(src)


def _cfg(root: Path, src: Path, name: str, **kw) -> AdaptConfig:
    base = dict(target=str(root / "art.png"), out=str(root / f"{name}.safetensors"), source=str(src),
                run_dir=str(root / f"run-{name}"), iterations=3, batch=2, aligned=True, invert_steps=2,
                source_samples=4, vgg_weights=str(root / "vgg.safetensors"), vgg_global=("relu3_3",),
                vgg_local="relu2_2", vgg_side=32, bf16=False, progress=False, log_every=1, blocks="16,32")
    base.update(kw)
    return AdaptConfig(**base)


def _encoder(model):
    from faceedit.invert import encoder as E

    torch.manual_seed(0)
    return E.Encoder(E.EncoderConfig.for_model(model, **TINY_ENCODER), model.G.mapping.w_avg).eval()


def test_adapt_trains_only_the_chosen_synthesis_blocks_and_writes_a_model_file(setup):
    root, src = setup
    logs: list[str] = []
    source = load(str(src))
    card = adapt(_cfg(root, src, "b", lr=0.01), log=logs.append, encoder=_encoder(source))
    G_B = load(str(root / "b.safetensors"))
    a = card["adapted"]
    assert a["source"] == {"name": str(src.resolve()), "sha256": source.sha256, "resolution": RES}
    import hashlib

    assert a["target"]["sha256"] == hashlib.sha256((root / "art.png").read_bytes()).hexdigest()
    assert a["trained_blocks"] == ["b16", "b32"] and a["training"]["steps"] == 3
    assert set(a["losses"]) == {"global", "local", "scc", "total"} and a["scc"]["encoder"]
    assert json.loads((root / "b.json").read_text())["adapted"]["method"] == "difa"
    sa, sb = source.G.state_dict(), G_B.G.state_dict()
    changed = {k.split(".")[1] for k in sa if k.startswith("synthesis.")
               and not torch.allclose(sa[k], sb[k], atol=1e-3)}
    assert changed == {"b16", "b32"}, changed
    assert all(torch.allclose(sa[k], sb[k], rtol=1e-3, atol=1e-4) for k in sa if k.startswith("mapping."))  # fp16
    ws = source.map(source.z_from_seeds([1, 2]), 0.7)
    assert not torch.allclose(source.synthesize(ws), G_B.synthesize(ws), atol=1e-3)
    assert source_model(G_B).sha256 == source.sha256
    lines = (root / "run-b" / "log.jsonl").read_text().splitlines()
    assert [json.loads(x)["step"] for x in lines] == [1, 2, 3]


def test_the_losses_go_down(setup):
    root, src = setup
    adapt(_cfg(root, src, "down", iterations=16, lr=0.01, blocks="all", method="nada"), log=lambda s: None)
    steps = [json.loads(x) for x in (root / "run-down" / "log.jsonl").read_text().splitlines()]
    first, last = np.mean([s["global"] for s in steps[:3]]), np.mean([s["global"] for s in steps[-3:]])
    assert last < first - 0.02, (first, last)
    assert "local" not in steps[0] and "scc" not in steps[0]  # nada: the directional loss only


def test_resume_continues_and_refuses_mismatches(setup, tmp_path):
    root, src = setup
    adapt(_cfg(root, src, "r", iterations=2), log=lambda s: None)
    with pytest.raises(FaceEditError, match="already holds"):
        adapt(_cfg(root, src, "r", iterations=4), log=lambda s: None)
    card = adapt(_cfg(root, src, "r", iterations=4), resume=True, log=lambda s: None)
    assert card["adapted"]["training"]["steps"] == 4
    other = tmp_path / "other.png"
    Image.fromarray(np.full((RES, RES, 3), 90, np.uint8)).save(other)
    with pytest.raises(FaceEditError, match="another art image"):
        adapt(_cfg(root, src, "r", target=str(other), iterations=6), resume=True, log=lambda s: None)
    with pytest.raises(FaceEditError, match="nothing to resume"):
        adapt(_cfg(root, src, "fresh"), resume=True, log=lambda s: None)


def test_time_budget_stops_the_run(setup):
    root, src = setup
    card = adapt(_cfg(root, src, "t", iterations=10_000, time_budget=1e-6), log=lambda s: None)
    assert card["adapted"]["training"]["stopped"] == "time budget spent"
    assert card["adapted"]["training"]["steps"] <= 1


def test_bad_settings_and_sources(setup, tmp_path):
    root, src = setup
    for kw, msg in (({"iterations": 0}, "--iterations"), ({"alpha": 2.0}, "--alpha"), ({"lr": float("nan")}, "--lr"),
                    ({"method": "gan"}, "unknown adaptation method"), ({"blocks": "7"}, "--blocks")):
        with pytest.raises(FaceEditError, match=msg):
            adapt(_cfg(root, src, "bad", **kw), log=lambda s: None)
    adapt(_cfg(root, src, "chain", iterations=1), log=lambda s: None)
    with pytest.raises(FaceEditError, match="itself an adapted generator"):
        adapt(_cfg(root, src, "chain2", source=str(root / "chain.safetensors")), log=lambda s: None)
    with pytest.raises(FaceEditError, match="art image not found"):
        adapt(_cfg(root, src, "missing", target=str(tmp_path / "none.png")), log=lambda s: None)


def test_adapted_files_check_their_source(setup, tmp_path):
    root, src = setup
    adapt(_cfg(root, src, "s", iterations=1), log=lambda s: None)
    G_B = load(str(root / "s.safetensors"))
    with pytest.raises(FaceEditError, match="not an adapted generator"):
        require_adapted(load(str(src)))
    with pytest.raises(FaceEditError, match="another resolution|does not match"):
        check_same_shape(tiny_model(16), G_B)
    # the source file is replaced by another generator: the adapted one refuses it
    moved = tmp_path / "source.safetensors"
    save_native(moved, tiny_model(RES, seed=3).G, dtype=torch.float32)
    card = dict(G_B.card["card"])
    card["adapted"] = {**card["adapted"], "source": {**card["adapted"]["source"], "name": str(moved)}}
    G_B.card = {**G_B.card, "card": card}
    with pytest.raises(FaceEditError, match="was replaced"):
        source_model(G_B)
    card["adapted"]["source"]["name"] = str(tmp_path / "gone.safetensors")
    with pytest.raises(FaceEditError, match="cannot be loaded"):
        source_model(G_B)


def test_no_face_and_several_faces_are_one_line_errors(setup, monkeypatch):
    import faceedit.align as align
    from faceedit.adapt.training import load_target

    root, src = setup
    monkeypatch.setattr(align, "detect_faces", lambda img, name="": [])
    with pytest.raises(FaceEditError, match="no face found"):
        load_target(root / "art.png", load(str(src)))
    monkeypatch.setattr(align, "detect_faces", lambda img, name="": ["face a", "face b"])
    with pytest.raises(FaceEditError, match="2 faces found .*--face-index"):
        load_target(root / "art.png", load(str(src)))


# ------------------------------------------------------------------------------------------------ commands
def test_adapt_command_errors_and_list(tmp_path, capsys):
    from faceedit.cli import main

    assert main(["adapt"]) != 0
    assert "error: give the art portrait" in capsys.readouterr().err
    assert main(["adapt", str(tmp_path / "a.jpg"), "-o", str(tmp_path / "x.png")]) != 0
    assert "safetensors" in capsys.readouterr().err
    assert main(["adapt", str(tmp_path / "a.jpg"), "-o", str(tmp_path / "x.safetensors")]) != 0
    assert "art image not found" in capsys.readouterr().err
    assert main(["adapt", "--list"]) == 0


def test_shipped_adapted_generators_load_by_name(tmp_path):
    """`--model mona_lisa` names a shipped adapted generator, like 'default' names the embedded one."""
    from faceedit.adapt import require_adapted
    from faceedit.errors import FaceEditError
    from faceedit.io import resolve_model
    from faceedit.io.registry import ART_ASSETS, shipped_art_names
    from faceedit.model import load

    names = shipped_art_names()
    assert {"mona_lisa", "pearl_earring", "van_gogh"} <= set(names)
    assert resolve_model("mona_lisa") == ART_ASSETS / "mona_lisa.safetensors"
    require_adapted(load("mona_lisa"))  # an adapted generator, not a plain one under that name
    with pytest.raises(FaceEditError, match="van_gogh"):  # the unknown-name error lists them
        resolve_model("mona_lisaa")


def test_edit_with_an_adapted_default_generator(tmp_path, capsys):
    """`faceedit edit --model ADAPTED`: seeds and directions of the source; a photo inverted with the source
    and drawn by the adapted generator; --compare shows both reconstructions."""
    from safetensors.torch import save_file

    from faceedit.cli import main

    default = load("default")
    save_file(random_vgg_state(), str(tmp_path / "vgg.safetensors"))
    with torch.no_grad():
        face = default.generate(seeds=[7], truncation=0.5).images[0]
    Image.fromarray(face).save(tmp_path / "art.png")
    out = tmp_path / "g.safetensors"
    adapt(AdaptConfig(target=str(tmp_path / "art.png"), out=str(out), run_dir=str(tmp_path / "run"), iterations=2,
                      batch=1, lr=0.05, aligned=True, invert_steps=1, source_samples=2,
                      vgg_weights=str(tmp_path / "vgg.safetensors"), vgg_side=64, bf16=False, progress=False),
          log=lambda s: None)
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    assert main(["edit", "--seed", "3", "--smiling", "1", "-o", str(a)]) == 0
    assert main(["edit", "--seed", "3", "--smiling", "1", "--model", str(out), "-o", str(b)]) == 0
    ia, ib = np.asarray(Image.open(a)).astype(int), np.asarray(Image.open(b)).astype(int)
    assert ia.shape == ib.shape and np.abs(ia - ib).mean() > 0.5  # same code, another generator
    gif = tmp_path / "smile.gif"
    assert main(["animate", "--seed", "3", "--attr", "smiling", "--frames", "2", "--model", str(out), "-o",
                 str(gif)]) == 0 and gif.stat().st_size > 0
    cmp_ = tmp_path / "cmp.png"
    capsys.readouterr()
    assert main(["edit", str(tmp_path / "art.png"), "--aligned", "--steps", "2", "--smiling", "1", "--compare",
                 "--crop", "--model", str(out), "-o", str(cmp_)]) == 0
    assert "inverted with hybrid" in capsys.readouterr().err
    img = np.asarray(Image.open(cmp_))
    r = default.resolution
    assert img.shape[1] >= 3 * r and img.shape[1] < 4 * r  # G_A's and G_B's reconstructions, then the edit
    cells = [img[-r:, i * (r + 2) + 2 - 2 * (i == 0): i * (r + 2) + 2 + r - 2 * (i == 0)].astype(int)
             for i in range(2)]
    assert np.abs(cells[0] - cells[1]).mean() > 0.5
    from faceedit.adapt.faces import reconstructions
    from faceedit.face import resolve_face

    big = reconstructions(resolve_face("3", default), load(str(out)), default, side=100)  # beside a large paste
    assert big[0].shape == big[1].shape == (100, 100, 3) and np.abs(big[0].astype(int) - big[1]).mean() > 0.5


def test_step_guard_stops_for_the_plan_the_budget_and_sigterm():
    import os
    import signal
    import time

    from faceedit.train.runner import StepGuard

    with StepGuard(3, None, 1e-4) as guard:
        assert not guard.stop_before(2) and guard.stop_before(3) and guard.reason == "planned steps done"
        time.sleep(0.01)
        assert guard.checkpoint_due() and not guard.checkpoint_due()  # due again only after the interval
        os.kill(os.getpid(), signal.SIGTERM)  # caught: the loop stops at the next boundary
        assert guard.stop_before(0) and guard.reason == "SIGTERM" and guard.signalled
    with StepGuard(10, 1e-9, 1.0) as guard:
        time.sleep(0.001)
        assert guard.stop_before(0) and guard.reason == "time budget spent"


def test_a_clip_embedding_drives_the_adaptation(setup):
    """The paper's embedding: a CLIP ViT (random weights in OpenAI's layout) gives the global and token losses."""
    from faceedit.adapt.clip import load_clip
    from faceedit.adapt.embed import CLIPEmbedding

    from test_adapt_clip import clip_state

    root, src = setup
    emb = CLIPEmbedding(load_clip(clip_state()), source="clip.pt")
    card = adapt(_cfg(root, src, "clip", iterations=2, lr=0.01), log=lambda s: None, embedding=emb)
    assert card["adapted"]["embedding"]["name"] == "clip" and card["adapted"]["embedding"]["image_size"] == 32
    assert set(card["adapted"]["losses"]) >= {"global", "local"}
    source, G_B = load(str(src)), load(str(root / "clip.safetensors"))
    ws = source.map(source.z_from_seeds([1]), 0.7)
    assert not torch.allclose(source.synthesize(ws), G_B.synthesize(ws), atol=1e-4)
