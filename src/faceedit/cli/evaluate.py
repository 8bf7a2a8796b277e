"""``faceedit eval realism``: Fréchet distance and KID of a generator's faces against real aligned faces;
``faceedit eval fid``: the same with FID's Inception-v3 (weights from a user-supplied file), printed as FID;
``faceedit eval faces``: the share of generated images in which an independent detector (dlib) finds a face."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer

from faceedit.cli.device_options import DeviceOpt, PrecisionOpt, on_device
from faceedit.cli.options import MODEL, MODEL_HELP, ModelOpt, TRUNC, command_group
from faceedit.errors import FaceEditError


def _measure(model: Path | str, real: str, n: int, features: str, truncation: float, seed: int,
             inception_weights: Optional[Path], k: int = 3, diversity: bool = True,
             vgg_weights: Optional[Path] = None, feature_size: Optional[int] = None) -> dict:
    """Generate n faces, load up to 2n reals, and report FD/KID against the real-vs-real floor; on a run folder
    the figure is also appended to its realism.jsonl (the exported card lists them as milestones)."""
    import torch

    from faceedit.metrics import realism as R
    from faceedit.nn import Discriminator, DiscriminatorConfig, Generator, GeneratorConfig
    from faceedit.train.checkpoint import load_into, read_weights
    from faceedit.data.images import load_images

    if features not in R.FEATURES:
        raise FaceEditError(f"--features must be one of {', '.join(R.FEATURES)}")
    if inception_weights is not None and features != "inception":
        raise FaceEditError("--inception-weights goes with --features inception")
    if vgg_weights is not None and features != "vgg16":
        raise FaceEditError("--vgg-weights goes with --features vgg16")
    if not 10 <= n <= 50_000:
        raise FaceEditError("--n must be from 10 to 50000")
    if not 1 <= k <= 20:
        raise FaceEditError("--k must be from 1 to 20")
    from faceedit.io.registry import resolve_model

    model = Path(model)
    if not model.is_dir():
        model = resolve_model(str(model))
    if features == "inception":  # check the weights before generating anything
        net = R.inception_features(inception_weights)
    state = None
    if model.is_dir():
        from faceedit.train.checkpoint import load_checkpoint

        state = load_checkpoint(model / "checkpoint.pt")
        g_cfg, d_cfg = state["g_config"], state["d_config"]
        groups = {"G_ema": state["G_ema"], "D": state["D"]}
    else:
        meta, groups = read_weights(model)
        g_cfg, d_cfg = meta["g_config"], meta.get("d_config")
    G = Generator(GeneratorConfig.from_dict(g_cfg)).eval()
    load_into(G, groups["G_ema"], "G_ema")
    if features == "disc":
        if d_cfg is None or "D" not in groups:
            raise FaceEditError(f"{model} has no discriminator for --features disc")
        D = Discriminator(DiscriminatorConfig.from_dict(d_cfg))
        load_into(D, groups["D"], "D")
        net = R.DiscriminatorFeatures(D)
    elif features == "faceapi":
        net = R.FaceApiFeatures()
    elif features == "vgg16":
        if feature_size is not None and not 32 <= feature_size <= 512:
            raise FaceEditError("--feature-size must be from 32 to 512")
        net = R.VGGFeatures(vgg_weights, size=feature_size or R.VGG_SIZE)
    res = G.img_resolution
    reals = load_images(real, res, limit=None)
    if len(reals) > 2 * n:
        perm = torch.randperm(len(reals), generator=torch.Generator().manual_seed(seed))[:2 * n]
        reals = reals[perm]
    torch.manual_seed(seed)
    fakes = []
    with torch.no_grad():
        for i in range(0, n, 32):
            z = torch.randn(min(32, n - i), G.z_dim)
            img = G(z, truncation_psi=truncation, noise_mode="random").clamp(-1, 1)
            fakes.append(R.to_uint8(img) if features == "inception" else img)
    batch = 32 if features == "inception" else 64
    fake_feats = R.extract(net, torch.cat(fakes), batch=batch)
    real_feats = R.extract(net, reals, batch=batch)
    rep = R.realism_report(fake_feats, real_feats, seed=seed)
    rep.update(R.precision_recall_report(fake_feats, real_feats, k=k, seed=seed))
    if diversity:
        from faceedit.scorers.fetch import have_weights

        if have_weights():
            rep.update(R.identity_diversity(torch.cat(fakes) if features != "inception" else
                                            torch.cat(fakes).float() / 127.5 - 1, reals, n=min(n, 1000)))
        else:
            print("note: face-api weights not fetched: no identity-diversity figure", file=sys.stderr)
    rep.update({"features": features, "model": str(model), "real": str(real), "resolution": res,
                "truncation": truncation})
    if inception_weights is not None:
        rep["inception_weights"] = Path(inception_weights).name
    if state is not None:  # a run folder: keep the figure as a milestone (the exported card lists them)
        import datetime

        rec = dict(rep, kimg=round(state["cur_nimg"] / 1000, 3), step=int(state["step"]),
                   date=datetime.date.today().isoformat())
        with open(model / "realism.jsonl", "a", encoding="utf-8") as f:
            f.write(json.dumps(rec) + "\n")
    return rep


def _write_json(output: Optional[Path], rep: dict) -> None:
    if output is not None:
        from faceedit.atomic import write_text

        write_text(output, json.dumps(rep, indent=1) + "\n")


INCEPTION_HELP = ("FID's Inception-v3 weights: pytorch-fid's pt_inception-2015-12-05-6726825d.pth (or the same "
                  "tensors as .safetensors/.npz, or NVIDIA's TorchScript inception-2015-12-05.pt).")


def realism(
    model: str = typer.Option("default", *MODEL, help=MODEL_HELP + " or a training run folder"),
    real: str = typer.Option(..., "--real", help="Real aligned faces: folder, pack .zip, .npy."),
    n: int = typer.Option(1000, "--n", help="Samples per set (generated; real: 2n for the floor)."),
    features: str = typer.Option("faceapi", "--features",
                                 help="faceapi | vgg16 (ImageNet VGG16, after `faceedit features fetch vgg16`) | "
                                      "disc (the model's discriminator) | inception (standard FID; needs "
                                      "--inception-weights)."),
    k: int = typer.Option(3, "--k", help="Nearest neighbours for the precision/recall manifolds."),
    vgg_weights: Optional[Path] = typer.Option(None, "--vgg-weights",
                                               help="A torchvision vgg16/vgg19 state dict to use instead of the "
                                                    "fetched Oxford VGG16."),
    feature_size: Optional[int] = typer.Option(None, "--feature-size",
                                               help="Input side for the VGG16 features (default 64)."),
    inception_weights: Optional[Path] = typer.Option(None, "--inception-weights", help=INCEPTION_HELP),
    truncation: float = typer.Option(1.0, "--truncation", help="Truncation psi of the generated faces."),
    seed: int = typer.Option(0, "--seed"),
    output: Optional[Path] = typer.Option(None, "--json", help="Also write the figures as JSON here."),
) -> None:
    """Realism of generated faces: FD and KID in a trained face network's feature space, with the real-vs-real
    floor at the same sample size (lower is better; the floor is the best reachable)."""
    rep = _measure(model, real, n, features, truncation, seed, inception_weights, k=k, vgg_weights=vgg_weights,
                   feature_size=feature_size)
    print(f"realism ({features} features, n={rep['n']}, {rep['resolution']} px): FD {rep['fd']:.3f} (floor "
          f"{rep['fd_floor']:.3f}), KID {rep['kid']:.5f} ± {rep['kid_std']:.5f} (floor {rep['kid_floor']:.5f})")
    print(f"precision {rep['precision']:.3f} (real vs real {rep['precision_real']:.3f}: "
          f"{rep['precision_ratio']:.2f}x), recall {rep['recall']:.3f} (real vs real {rep['recall_real']:.3f}: "
          f"{rep['recall_ratio']:.2f}x), k={rep['k']}")
    if "identity_diversity" in rep:
        print(f"identity diversity {rep['identity_diversity']:.3f} (real faces at {rep['resolution']} px "
              f"{rep['identity_diversity_real']:.3f}: {100 * rep['identity_diversity_ratio']:.0f}%)")
    _write_json(output, rep)
    sys.stdout.flush()


def fid(
    model: str = typer.Option("default", *MODEL, help=MODEL_HELP + " or a training run folder"),
    real: str = typer.Option(..., "--real", help="Real aligned faces: folder, pack .zip, .npy."),
    inception_weights: Optional[Path] = typer.Option(None, "--inception-weights", help=INCEPTION_HELP),
    n: int = typer.Option(10000, "--n", help="Generated images (the reals give n for FID and n for the floor)."),
    truncation: float = typer.Option(1.0, "--truncation", help="Truncation psi of the generated faces."),
    seed: int = typer.Option(0, "--seed"),
    output: Optional[Path] = typer.Option(None, "--json", help="Also write the figures as JSON here."),
) -> None:
    """Standard FID (and KID) of generated faces with FID's Inception-v3, beside the real-vs-real floor at the same
    sample size. The same numbers as 'eval realism --features inception'."""
    rep = _measure(model, real, n, "inception", truncation, seed, inception_weights)
    print(f"FID {rep['fd']:.2f}")
    print(f"KID {rep['kid']:.5f} ± {rep['kid_std']:.5f}; real-vs-real floor: FID {rep['fd_floor']:.2f}, KID "
          f"{rep['kid_floor']:.5f} (n={rep['n']} per set, {rep['resolution']} px resized to 299, ψ {truncation})")
    _write_json(output, rep)
    sys.stdout.flush()

def faces(
    model: ModelOpt = "default",
    seeds: str = typer.Option("0-63", "--seeds", help="seeds of the generated faces"),
    trunc: float = typer.Option(0.7, *TRUNC, help="truncation ψ"),
    upscale: int = typer.Option(256, "--upscale", help="resize images to this side before detection (dlib's HOG "
                                "misses faces under ~80 px)"),
    output: Optional[Path] = typer.Option(None, "--json", help="Also write the figures as JSON here."),
    device: DeviceOpt = "auto",
    precision: PrecisionOpt = "auto",
) -> None:
    """Face rate: in how many generated images dlib's detector (HOG, then CNN) finds a face."""
    import numpy as np
    from PIL import Image

    from faceedit import api
    from faceedit.align import detect_faces, have_dlib
    from faceedit.atomic import write_text
    from faceedit.cli.options import parse_seeds

    if not have_dlib():
        raise FaceEditError("face detection needs dlib: pip install 'faceedit[align]'")
    if not 64 <= upscale <= 1024:
        raise FaceEditError("--upscale must be between 64 and 1024")
    seed_list = parse_seeds(seeds)
    m = on_device(api.load(model), device, precision)
    found = []
    for i in range(0, len(seed_list), 16):
        for img in m.generate(seeds=seed_list[i:i + 16], truncation=trunc).images:
            big = np.asarray(Image.fromarray(img).resize((upscale, upscale), Image.LANCZOS))
            found.append(len(detect_faces(big)) > 0)
    rate = float(np.mean(found))
    missed = [s for s, ok in zip(seed_list, found) if not ok]
    print(f"face rate: {sum(found)}/{len(found)} = {100 * rate:.1f} % (dlib, ψ {trunc}, {m.resolution} px shown at "
          f"{upscale} px); no face for seeds: {', '.join(map(str, missed[:20])) or 'none'}"
          f"{' …' if len(missed) > 20 else ''}")
    if output is not None:
        write_text(output, json.dumps({"face_rate": rate, "n": len(found), "truncation": trunc, "missed": missed},
                                      indent=1) + "\n")


def register(app: typer.Typer) -> None:
    group = command_group(app, "eval")
    group.command("realism")(realism)
    group.command("fid")(fid)
    group.command("faces")(faces)
