"""Neural style transfer: losses, the Gatys optimisation, the Johnson network, its training and file format, colour
preservation, masks, the CLI on photos / folders / GIFs, and bad input. Tiny images and random-weight VGGs only."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from faceedit.cli import main
from faceedit.errors import FaceEditError
from faceedit.features import VGG, gram
from faceedit.stylize import Where, stylize_fast, stylize_image
from faceedit.stylize.color import keep_chroma, rgb_to_yiq
from faceedit.stylize.gatys import GatysConfig, optimise, stylize_gatys
from faceedit.stylize.images import check_rgb, resize, to_tensor
from faceedit.stylize.johnson import PRESETS, NetConfig, TransformNet, load_style_model, save_style_model
from faceedit.stylize.losses import LossWeights, PerceptualLoss, content_loss, style_loss, tv_loss
from faceedit.stylize.styles import STYLES_DIR

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _random_vgg(seed: int = 0) -> VGG:
    torch.manual_seed(seed)
    net = VGG("vgg16", "torchvision")
    for m in net.features:
        if isinstance(m, torch.nn.Conv2d):
            torch.nn.init.normal_(m.weight, std=(2 / (m.in_channels * 9)) ** 0.5)
            torch.nn.init.zeros_(m.bias)
    return net


@pytest.fixture(scope="module")
def vgg_file(tmp_path_factory):
    """A random-weight VGG16 saved as a torchvision state dict (what --vgg takes)."""
    from safetensors.torch import save_file

    path = tmp_path_factory.mktemp("vgg") / "vgg16.safetensors"
    state = {f"features.{k}": v.contiguous() for k, v in _random_vgg().features.state_dict().items()}
    save_file(state, str(path))
    return path


def _photo(h: int = 32, w: int = 40, seed: int = 0) -> np.ndarray:
    """A smooth colourful test picture (gradients and a disc), uint8 H×W×3."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    disc = ((yy - 0.5) ** 2 + (xx - 0.5) ** 2 < 0.08).astype(float)
    img = np.stack([xx, yy, disc], axis=2) * 200 + rng.uniform(0, 40, (h, w, 3))
    return img.clip(0, 255).astype(np.uint8)


def _stripes(h: int = 32, w: int = 32) -> np.ndarray:
    xx = np.arange(w)[None, :].repeat(h, 0)
    return np.stack([(xx % 6 < 3) * 230, np.full((h, w), 40), (xx % 4 < 2) * 180], axis=2).astype(np.uint8)


def _style_model(tmp_path, cfg: NetConfig = PRESETS["slim"], seed: int = 0):
    torch.manual_seed(seed)
    net = TransformNet(cfg)
    path = tmp_path / "style.safetensors"
    save_style_model(path, net, {"style": {"file": "x.jpg", "sha256": "0" * 64}, "training": {"size": 32}})
    return path, net


# ------------------------------------------------------------------------------------------------ losses
def test_gram_content_tv_losses_on_known_inputs():
    f = torch.zeros(1, 2, 2, 2)
    f[0, 0] = 1.0  # channel 0 all ones, channel 1 zeros
    g = gram(f)
    assert torch.allclose(g, torch.tensor([[[4.0, 0.0], [0.0, 0.0]]]) / 8)  # ⟨f0, f0⟩ = 4, over C·H·W = 8
    assert torch.allclose(style_loss(g, g), torch.zeros(1))
    # relative: (0.5 − 0)² averaged over 4 entries / mean(target²) = (0.25/4) / (0.25/4) = 1
    assert torch.allclose(style_loss(torch.zeros(1, 2, 2), g), torch.ones(1))
    assert torch.allclose(content_loss(2 * f, f), torch.ones(1))  # (2f − f)² / f² = 1
    assert torch.allclose(content_loss(f, f), torch.zeros(1))
    x = torch.zeros(1, 1, 3, 3)
    assert float(tv_loss(x)) == 0.0
    x[0, 0, :, 1] = 1.0  # one bright column: 6 horizontal steps of 1 among 6 pairs, no vertical change
    assert torch.allclose(tv_loss(x), torch.tensor([1.0]))
    with pytest.raises(FaceEditError):
        LossWeights(content=0, style=0)
    with pytest.raises(FaceEditError):
        LossWeights(style=float("nan"))


def test_perceptual_loss_is_zero_on_the_style_image_itself_for_style():
    vgg = _random_vgg()
    s = to_tensor(_stripes())
    loss = PerceptualLoss(vgg, s, LossWeights(1.0, 1.0, 0.0), style_layers=("relu1_1", "relu2_1"))
    out = loss(s, loss.content_targets(s))
    assert float(out["style"]) < 1e-6 and float(out["content"]) < 1e-6
    other = loss(to_tensor(_photo(32, 32)), loss.content_targets(s))
    assert float(other["style"]) > 0.01 and float(other["content"]) > 0.01


# ------------------------------------------------------------------------------------------------ gatys
@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_gatys_lowers_the_loss(optimizer):
    vgg = _random_vgg()
    c, s = to_tensor(_photo(32, 32)), to_tensor(_stripes())
    cfg = GatysConfig(size=32, steps=12, optimizer=optimizer, lr=0.05, weights=LossWeights(1.0, 20.0, 0.0))
    start = stylize_gatys(c, s, vgg, GatysConfig(size=32, steps=0, weights=cfg.weights))
    res = stylize_gatys(c, s, vgg, cfg)
    assert res.image.shape == (1, 3, 32, 32) and res.evaluations == [12]
    assert res.losses["total"] < 0.7 * start.losses["total"]
    assert res.losses["style"] < start.losses["style"]
    assert float(res.image.abs().max()) <= 1.0


def test_gatys_multiscale_stages_init_and_target_stop():
    cfg = GatysConfig(size=512)
    assert cfg.stage_sizes() == [128, 256, 512]
    assert GatysConfig(size=256).stage_sizes() == [256]
    assert GatysConfig(size=512, multiscale=False).stage_sizes() == [512]
    vgg = _random_vgg()
    c, s = to_tensor(_photo(24, 48)), to_tensor(_stripes())
    res = stylize_gatys(c, s, vgg, GatysConfig(size=128, multiscale=True, scales=(0.5, 1.0), steps=3, init="noise",
                                               weights=LossWeights(1.0, 5.0, 1.0)))
    assert res.evaluations == [3, 3] and res.image.shape == (1, 3, 64, 128)  # aspect kept, long side 128
    assert {h[1] for h in res.history} == {64, 128}
    # the reported loss is the returned (clamped) image's, and it is the best one the last stage saw
    ref = PerceptualLoss(vgg, resize(s, (128, 128)), LossWeights(1.0, 5.0, 1.0))  # the last stage's loss
    with torch.no_grad():
        again = float(ref(res.image, ref.content_targets(resize(c, (64, 128))))["total"].sum())
    assert res.image.abs().max() <= 1 and again == pytest.approx(res.losses["total"], rel=1e-4)
    assert res.losses["total"] == pytest.approx(min(h[2] for h in res.history if h[1] == 128), rel=1e-4)
    # a target that is reached at once stops after one evaluation
    x = torch.zeros(1, 3, 8, 8)
    out, best, used, hit = optimise(x, lambda img: (img - 0.5).pow(2).sum(), 50, "lbfgs", 0.1, target=1e9)
    assert used == 1 and hit
    out, best, used, hit = optimise(x, lambda img: (img - 0.5).pow(2).sum(), 30, "lbfgs", 0.1)
    assert best < 1e-6 and torch.allclose(out, torch.full_like(out, 0.5), atol=1e-3)


def test_colour_preservation_keeps_the_content_chroma():
    vgg = _random_vgg()
    img = _photo(32, 32)
    c = to_tensor(img)
    res = stylize_gatys(c, to_tensor(_stripes()), vgg, GatysConfig(size=32, steps=4, preserve_color=True))
    iq_out, iq_in = rgb_to_yiq(res.image)[:, 1:], rgb_to_yiq(c)[:, 1:]
    diff = (iq_out - iq_in).abs()
    clipped = (res.image.abs() >= 0.999).any(1, keepdim=True).expand_as(diff)  # a channel at the gamut's edge
    assert clipped.float().mean() < 0.5 and float(diff[~clipped].max()) < 1e-4  # chroma kept where not clipped
    assert float(diff.mean()) < 0.005
    assert float((rgb_to_yiq(res.image)[:, :1] - rgb_to_yiq(c)[:, :1]).abs().mean()) > 1e-3  # luminance moved
    y = torch.rand(1, 3, 16, 16) * 0.6 - 0.3  # inside the gamut: nothing is clipped
    kept = keep_chroma(y, c[..., :16, :16] * 0.5)
    assert torch.allclose(rgb_to_yiq(kept)[:, 0], rgb_to_yiq(y)[:, 0], atol=1e-5)
    assert torch.allclose(rgb_to_yiq(kept)[:, 1:], rgb_to_yiq(c[..., :16, :16] * 0.5)[:, 1:], atol=1e-5)


def test_masks_confine_the_change(tmp_path):
    path, _ = _style_model(tmp_path)
    img = _photo(32, 32)
    mask = np.zeros((32, 32), np.float32)
    mask[:, :16] = 1.0  # stylise the left half only
    out = stylize_fast(img, str(path), where=Where(mask=mask))
    free = stylize_fast(img, str(path))
    assert np.array_equal(out[:, 16:], img[:, 16:])  # outside: the photo, unchanged
    assert np.array_equal(out[:, :16], free[:, :16])
    inverse = stylize_fast(img, str(path), where=Where(mask=1 - mask))
    assert np.array_equal(inverse[:, :16], img[:, :16])
    vgg = _random_vgg()
    res = stylize_image(img, _stripes(), "gatys", size=32, where=Where(mask=mask),
                        gatys=GatysConfig(steps=3, init="style"), vgg=vgg)
    assert np.abs(res[:, 16:].astype(int) - img[:, 16:]).max() <= 1 and np.abs(res[:, :16].astype(int)
                                                                                 - img[:, :16]).mean() > 1


def test_face_region_mask_from_the_parser_labels():
    from faceedit.scorers.parser import CLASSES
    from faceedit.stylize.masks import face_mask

    class Parser:  # a stand-in parser: hair on the top rows, skin in the middle, background elsewhere
        def labels(self, x):
            lab = torch.zeros(1, x.shape[-2], x.shape[-1], dtype=torch.long)
            lab[:, :8] = CLASSES.index("hair")
            lab[:, 12:24, 8:24] = CLASSES.index("skin")
            return lab

    img = _photo(32, 32)
    m = face_mask(img, aligned=True, parser=Parser())[0, 0]
    assert m.shape == (32, 32)
    assert float(m[2, 16]) > 0.9 and float(m[18, 16]) > 0.9 and float(m[30, 2]) < 0.05
    bg = Where(region="background", aligned=True, parser=Parser()).resolve(img)
    assert torch.allclose(bg[0, 0], 1 - m)


# ------------------------------------------------------------------------------------------------ network + file
@pytest.mark.parametrize("preset", ["slim", "johnson"])
def test_transform_network_shapes(preset):
    net = TransformNet(PRESETS[preset]).eval().requires_grad_(False)
    for h, w in ((32, 32), (30, 45), (8, 8)):
        y = net(torch.rand(2, 3, h, w) * 2 - 1)
        assert y.shape == (2, 3, h, w) and float(y.abs().max()) <= 1.0
    with pytest.raises(FaceEditError, match="too small"):
        net(torch.zeros(1, 3, 4, 40))
    with pytest.raises(FaceEditError, match=r"\[N, 3, H, W\]"):
        net(torch.zeros(1, 1, 32, 32))
    n = sum(p.numel() for p in net.parameters())
    assert (n > 1_500_000) if preset == "johnson" else (n < 100_000)
    slim, full = TransformNet(PRESETS["slim"]), TransformNet(PRESETS["johnson"])
    assert slim.multiply_adds(64, 64) * 8 < full.multiply_adds(64, 64)


def test_style_file_round_trip_and_refusals(tmp_path):
    path, net = _style_model(tmp_path)
    model = load_style_model(path)
    x = torch.rand(1, 3, 24, 24) * 2 - 1
    with torch.no_grad():
        want = net.half().float()(x)  # fp16 file: the same network rounded to fp16
    assert torch.allclose(model(x), want, atol=1e-5)
    assert model.card["training"]["size"] == 32
    card = json.loads(path.with_suffix(".json").read_text())
    assert card["kind"] == "style_network" and card["style"]["sha256"] == "0" * 64
    # a file whose tensors belong to a network of another size than its config says
    from safetensors.torch import load_file, save_file

    tensors = load_file(str(path))
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        meta = json.loads(f.metadata()["faceedit"])
    meta["config"]["channels"] = [24, 48, 96]
    other = tmp_path / "other.safetensors"
    save_file(tensors, str(other), metadata={"faceedit": json.dumps(meta)})
    with pytest.raises(FaceEditError, match="another network size"):
        load_style_model(other)
    corrupt = tmp_path / "corrupt.safetensors"
    corrupt.write_bytes(path.read_bytes()[:300])
    with pytest.raises(FaceEditError, match="cannot read"):
        load_style_model(corrupt)
    tensors["out.1.weight"] = torch.full_like(tensors["out.1.weight"], float("nan"))
    nan = tmp_path / "nan.safetensors"
    save_file(tensors, str(nan), metadata={"faceedit": json.dumps({**meta, "config": PRESETS["slim"].to_dict()})})
    with pytest.raises(FaceEditError, match="NaN"):
        load_style_model(nan)
    with pytest.raises(FaceEditError, match="not found"):
        load_style_model(tmp_path / "missing.safetensors")


# ------------------------------------------------------------------------------------------------ training
def test_two_step_training_then_resume(tmp_path, vgg_file):
    from faceedit.stylize.training import StyleTrainConfig, train_style

    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(5):
        Image.fromarray(_photo(40, 48, seed=i)).save(photos / f"p{i}.png")
    style = tmp_path / "style.png"
    Image.fromarray(_stripes(48, 48)).save(style)
    out = tmp_path / "net.safetensors"
    cfg = StyleTrainConfig(style=str(style), out=str(out), run_dir=str(tmp_path / "run"), data=str(photos), size=32,
                           batch=2, steps=2, images=5, vgg=str(vgg_file), bf16=False, progress=False,
                           preset="slim", log_every=1)
    card = train_style(cfg, log=lambda m: None)
    assert card["training"]["steps"] == 2 and card["training"]["complete"]
    assert card["training"]["stopped"] == "planned steps done"
    assert card["style"]["sha256"] and card["loss"]["weights"]["style"] == 20.0
    first = load_style_model(out)
    with pytest.raises(FaceEditError, match="--resume"):
        train_style(cfg, log=lambda m: None)
    cfg.steps, cfg.time_budget = 4, 1e-9  # a spent time budget stops before the first step of this invocation
    card = train_style(cfg, resume=True, log=lambda m: None)
    assert card["training"]["steps"] == 2 and card["training"]["stopped"] == "time budget spent"
    assert not card["training"]["complete"]
    cfg.steps, cfg.time_budget = 3, None
    card = train_style(cfg, resume=True, log=lambda m: None)
    assert card["training"]["steps"] == 3
    second = load_style_model(out)
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    assert not torch.equal(first(x), second(x))  # the resumed step changed the weights
    lines = (tmp_path / "run" / "log.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in lines] == [1, 2, 3]
    Image.fromarray(_photo(48, 48, seed=9)).save(style)  # another painting in the same run folder
    cfg.steps = 4
    with pytest.raises(FaceEditError, match="another style image"):
        train_style(cfg, resume=True, log=lambda m: None)


# ------------------------------------------------------------------------------------------------ CLI
def test_cli_photo_folder_gif_round_trips(tmp_path, vgg_file, capsys):
    path, _ = _style_model(tmp_path)
    photo = tmp_path / "in.png"
    Image.fromarray(_photo(32, 40)).save(photo)
    assert main(["stylize", str(photo), "--style-model", str(path), "-o", str(tmp_path / "out.png")]) == 0
    assert Image.open(tmp_path / "out.png").size == (40, 32)
    # gatys on the CLI (random VGG from --vgg)
    style = tmp_path / "style.png"
    Image.fromarray(_stripes()).save(style)
    assert main(["stylize", str(photo), "--style", str(style), "--method", "gatys", "--vgg", str(vgg_file),
                 "--size", "32", "--steps", "2", "-o", str(tmp_path / "g.jpg")]) == 0
    assert Image.open(tmp_path / "g.jpg").size == (32, 26)
    # a folder → a folder; one bad file is skipped
    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(2):
        Image.fromarray(_photo(32, 32, seed=i)).save(folder / f"p{i}.jpg")
    (folder / "broken.png").write_bytes(b"not an image")
    assert main(["stylize", str(folder), "--style-model", str(path), "-o", str(tmp_path / "outdir")]) == 0
    assert sorted(p.name for p in (tmp_path / "outdir").iterdir()) == ["p0.jpg", "p1.jpg"]
    assert "skip:" in capsys.readouterr().err
    # a GIF → a GIF with as many frames
    frames = [Image.fromarray(_photo(32, 32, seed=i)) for i in range(3)]
    gif = tmp_path / "in.gif"
    frames[0].save(gif, save_all=True, append_images=frames[1:], duration=80, loop=0)
    assert main(["stylize", str(gif), "--style-model", str(path), "-o", str(tmp_path / "out.gif")]) == 0
    with Image.open(tmp_path / "out.gif") as im:
        assert im.n_frames == 3 and im.size == (32, 32)
    assert "frame-to-frame change" in capsys.readouterr().err


@pytest.mark.parametrize("args, words", [
    (["--style", "{tmp}/missing.jpg", "--method", "gatys"], "no such style image"),
    (["--method", "fast"], "needs --style-model"),
    (["--style-model", "no_such_style"], "unknown style"),
    (["--style-model", "{model}", "--steps", "3"], "apply to --method gatys"),
    (["--style-model", "{model}", "--size", "99999"], "1<=x<=8192"),
    (["--style-model", "{model}", "--size", "5000"], "from 16 to 4096"),
    (["--style", "{tmp}/style.png", "--method", "gatys", "--size", "4096", "--vgg", "{vgg}"], "to 2048 px"),
    (["--style-model", "{model}", "--face-only", "--mask", "{tmp}/style.png"], "one of --mask"),
    (["--style-model", "{corrupt}"], "cannot read"),
    (["--style-model", "{classifier}"], "not a style_network"),
    (["--style", "{tmp}/tiny.png", "--method", "gatys", "--vgg", "{vgg}"], "too small"),
])
def test_cli_bad_input_one_line(tmp_path, vgg_file, capsys, args, words):
    model, _ = _style_model(tmp_path)
    (tmp_path / "corrupt.safetensors").write_bytes(b"\x00" * 20)
    Image.fromarray(_stripes()).save(tmp_path / "style.png")
    photo = tmp_path / "in.png"
    Image.fromarray(_photo()).save(photo)
    Image.fromarray(np.zeros((1, 1, 3), np.uint8)).save(tmp_path / "tiny.png")
    classifier = STYLES_DIR.parent / "attr_classifier.safetensors"  # a shipped network of another kind
    fill = {"tmp": str(tmp_path), "model": str(model), "vgg": str(vgg_file),
            "corrupt": str(tmp_path / "corrupt.safetensors"), "classifier": str(classifier)}
    argv = ["stylize", str(photo), "-o", str(tmp_path / "o.png")] + [a.format(**fill) for a in args]
    assert main(argv) != 0
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and words in err and "\n" not in err, err


def test_bad_images_are_refused(tmp_path):
    with pytest.raises(FaceEditError, match="grayscale"):
        check_rgb(np.zeros((32, 32), np.uint8))
    with pytest.raises(FaceEditError, match="grayscale"):
        check_rgb(np.zeros((32, 32, 1), np.uint8))
    with pytest.raises(FaceEditError, match="too small"):
        check_rgb(np.zeros((1, 1, 3), np.uint8))
    with pytest.raises(FaceEditError, match="too large"):
        check_rgb(np.broadcast_to(np.zeros((1, 1, 3), np.uint8), (9000, 9000, 3)))
    with pytest.raises(FaceEditError, match="uint8"):
        check_rgb(np.zeros((32, 32, 3), np.float32))
    tiny = tmp_path / "tiny.png"
    Image.fromarray(np.zeros((1, 1, 3), np.uint8)).save(tiny)
    model, _ = _style_model(tmp_path)
    assert main(["stylize", str(tiny), "--style-model", str(model), "-o", str(tmp_path / "o.png")]) == 2
    gif_out = main(["stylize", str(tiny), "--style-model", str(model), "-o", str(tmp_path / "o.gif")])
    assert gif_out == 2  # a photo cannot become a GIF


def test_a_grayscale_photo_file_is_stylised_as_rgb(tmp_path):
    """A grayscale file is read as RGB (its three channels equal), so it is stylised, not refused; the output is
    colour (the network paints)."""
    model, _ = _style_model(tmp_path)
    gray = tmp_path / "gray.png"
    Image.fromarray(_photo()[..., 0]).save(gray)
    assert main(["stylize", str(gray), "--style-model", str(model), "-o", str(tmp_path / "o.png")]) == 0
    out = np.asarray(Image.open(tmp_path / "o.png"))
    assert out.shape == (32, 40, 3) and np.abs(out[..., 0].astype(int) - out[..., 2]).mean() > 1


@pytest.mark.parametrize("args, words", [
    (["--style", "{tmp}/missing.jpg"], "style image not found"),
    (["--style", "{tmp}/tiny.png"], "too small"),
    (["--style", "{tmp}/style.png", "--data", "{tmp}/no_photos"], "training photos not found"),
    (["--style", "{tmp}/style.png", "--size", "5000"], "--size"),
    (["--style", "{tmp}/style.png", "--arch", "huge"], "unknown --arch"),
])
def test_train_style_bad_input_one_line(tmp_path, vgg_file, capsys, args, words):
    Image.fromarray(_stripes()).save(tmp_path / "style.png")
    Image.fromarray(np.zeros((1, 1, 3), np.uint8)).save(tmp_path / "tiny.png")
    argv = ["train", "style", "-o", str(tmp_path / "m.safetensors"), "--run-dir", str(tmp_path / "run"),
            "--vgg", str(vgg_file), "--no-progress"] + [a.format(tmp=tmp_path) for a in args]
    assert main(argv) != 0
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and words in err and "\n" not in err, err
    assert not (tmp_path / "m.safetensors").exists()
