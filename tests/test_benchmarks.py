"""Benchmarks are code too: every script in benchmarks/ runs here with tiny settings (seconds each, in a process of
its own), so none can rot. A script that needs weights or libraries this machine lacks is skipped with the reason.
A new script must get a row in SCRIPTS (the first test fails until it has one)."""

from __future__ import annotations

import gzip
import importlib.util
import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks"


def _have_dlib() -> bool:
    from faceedit.align import have_dlib

    return have_dlib()


def _have_faceapi() -> bool:
    from faceedit.scorers.fetch import have_weights

    return have_weights()


def _have_vgg() -> bool:
    from faceedit.features import have_vgg16

    return have_vgg16()


def _have_module(name: str):
    return lambda: importlib.util.find_spec(name) is not None


NEEDS = {"dlib": (_have_dlib, "needs dlib (pip install 'faceedit[align]')"),
         "faceapi": (_have_faceapi, "needs the face-api weights (faceedit scorers fetch-faceapi)"),
         "vgg": (_have_vgg, "needs the VGG16 weights (faceedit features fetch vgg16)"),
         "sklearn": (_have_module("sklearn"), "needs scikit-learn (pip install 'faceedit[cluster]')"),
         "trimesh": (_have_module("trimesh"), "needs trimesh (pip install 'faceedit[geometry]')")}

#: script → (arguments, what it needs beyond the package, a word its output must hold). ``{faces}``: a folder of
#: 24 generated faces; ``{photos}``: 2 generated 256-px photos; ``{build}``: a build folder (manifest.jsonl with
#: identities, attributes and photos); ``{model}``: a tiny generator file; ``{mnist}``: 200 made-up digits in the
#: MNIST files' format; ``{meshes}``: a folder with one small mesh.
SCRIPTS: dict[str, tuple[list[str], tuple[str, ...], str]] = {
    "align.py": (["--src", "{photos}", "--n", "2", "--stage-n", "1", "--workers", "1"], ("dlib",), "aligned"),
    "arch_compare.py": (["--smoke", "--threads", "1", "--data", "{faces}", "--out", "runs"], (), "FD/floor"),
    "batch.py": (["--n", "2", "--methods", "encoder", "--engines", "local1"], (), "photos/s"),
    "clustering.py": (["--part", "mnist", "--mnist", "{mnist}", "--widths", "4,4,4,4,4,4", "--pretrain-epochs", "1",
                       "--rounds", "1", "--round-epochs", "1", "--batch", "64", "--quiet"], ("sklearn",), "DERC"),
    "coverage.py": (["--models", "{model}", "{model}", "--real", "{build}", "--res", "16", "--n", "30", "--k", "2",
                     "--min-group", "5", "--threads", "1", "--png", "missed.png"], ("vgg",), "generated / real frequency"),
    "difa.py": (["--targets", "{faces}/seed0003.png", "--aligned", "--iterations", "2", "--batch", "1", "--seeds", "4",
                 "--invert-steps", "1", "--source-samples", "2", "--stages", "relu5_3"], ("vgg", "faceapi"),
                "style reached"),
    "directions.py": (["--samples", "8", "--batch", "4", "--frames", "2", "--threads", "1"], (),
                      "per edited frame"),
    "gan_quality.py": (["--models", "{model}", "--real", "{faces}", "--res", "16", "--n", "8", "--k", "2",
                        "--threads", "1"], ("vgg", "faceapi"), "precision"),
    "generate.py": (["--res", "16", "--batch", "1", "--repeats", "1", "--channel-base", "256", "--channel-max", "32",
                     "--variants", "nchw", "--max-seconds", "2", "--threads", "1"], (), "img/s"),
    "generate_memory.py": (["--seeds", "2,4", "--batch", "2"], (), "streaming"),
    "headpose.py": (["--noise", "0", "--grid-step", "9", "--seeds", "0-1", "--amounts=-3,0,3"], (), "all < 5°"),
    "inpaint.py": (["--data", "{build}", "--n", "1", "--steps", "2", "--perceptual", "none", "--holes", "mouth,random"],
                   (), "hole MSE vs masked"),
    "inversion.py": (["--data", "{faces}", "--n", "2", "--opt-steps", "2", "--hybrid-steps", "2", "--pivotal-steps",
                      "2", "--batch", "2", "--threads", "1"], ("faceapi",), "pivotal"),
    "inversion_edits.py": (["--data", "{faces}", "--n", "1", "--steps", "2", "--attrs", "smiling", "--threads", "1"],
                           (), "reconstruction PSNR"),
    "latent_spaces.py": (["--data", "{build}", "--n", "1", "--steps", "2", "--perceptual", "none", "--fit-samples",
                          "100", "--faces", "4", "--attrs", "smiling"], (), "AD (thesis)"),
    "paste_detail.py": (["--data", "{build}", "--n", "1", "--method", "encoder", "--threads", "1"],
                        ("dlib", "faceapi"), "change"),
    "perceptual_cost.py": (["--data", "{faces}", "--perceptual", "faceapi,none", "--batch", "2", "--steps", "1",
                            "--rounds", "1", "--threads", "1"], ("faceapi",), "W+ step"),
    "realism_features.py": (["--data", "{build}", "--res", "16", "--n", "40", "--sizes", "32", "--k", "2",
                             "--threads", "1"], ("vgg",), "best:"),
    "registration.py": (["--meshes", "{meshes}", "--pairs-per-mesh", "1", "--angles", "45", "--noise", "0",
                         "--thesis-pairs", "0", "--ransac-iterations", "1000"], ("trimesh",), "HOUV_pri (tuned)"),
    "serve_load.py": (["--requests", "4", "--concurrency", "2", "--serial", "2", "--faces", "2", "--max-seconds",
                       "60"], (), "burst of 4 edits"),
    "stylespace_ad.py": (["--attrs", "Smiling", "--faces", "4", "--search-samples", "4", "--stat-samples", "20",
                          "--alphas", "5", "--w-alphas", "1", "--ks", "1", "--real", "{build}"], (), "interfacegan"),
    "stylize.py": (["--parts", "fast", "--repeats", "1", "--fast-threads", "1", "--threads", "1"], (), "frames/s"),
    "threads.py": (["--steps", "1", "--repeats", "1"], (), "faceedit default"),
    "train_speed.py": (["--smoke", "--threads", "1"], (), "speed-up fp32"),
}


def test_every_benchmark_has_a_smoke_run():
    assert sorted(p.name for p in BENCH.glob("*.py")) == sorted(SCRIPTS)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, str]:
    """The small inputs the scripts read, made here from the default generator and a random one."""
    from faceedit import api
    from faceedit.io.native import save_native
    from faceedit.nn import Generator, GeneratorConfig

    root = tmp_path_factory.mktemp("bench")
    model = api.load("default")
    gen = model.generate(seeds=range(24), truncation=0.7)
    faces, photos, build = root / "faces", root / "photos", root / "build"
    for d in (faces, photos, build / "images"):
        d.mkdir(parents=True)
    for i, img in enumerate(gen.images):
        Image.fromarray(img).save(faces / f"seed{i:04d}.png")
    rows = []
    for i in range(96):  # identities in two halves, some 'female' rows, a photo for the val rows
        img = gen.images[i % 24]
        Image.fromarray(img).resize((32, 32)).save(build / "images" / f"{i:04d}.png")
        rows.append({"path": f"images/{i:04d}.png", "identity": f"id{i // 2}", "source": "test", "size": 32,
                     "split": "val" if i % 8 == 0 else "train", "attributes": {"Male": i % 3 == 0}})
    for i in range(2):
        path = photos / f"photo{i}.png"
        Image.fromarray(gen.images[3 + i]).resize((256, 256), Image.LANCZOS).save(path)
        rows[8 * i].update(orig=str(path), eye_distance=60 - i)
    (build / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    _write_digits(root / "mnist", 200)
    _write_mesh(root / "meshes" / "shape.obj")
    torch.manual_seed(0)
    G = Generator(GeneratorConfig(z_dim=16, w_dim=16, resolution=16, channel_base=128, channel_max=32,
                                  mapping_layers=1)).eval()
    save_native(root / "tiny.safetensors", G, card={"kimg": 1.0, "cpu_hours": 0.01})
    return {"faces": str(faces), "photos": str(photos), "build": str(build), "model": str(root / "tiny.safetensors"),
            "mnist": str(root / "mnist"), "meshes": str(root / "meshes")}


def _idx(arr: np.ndarray) -> bytes:
    """``arr`` (uint8) in the IDX format of the MNIST files."""
    return bytes([0, 0, 0x08, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape) + arr.tobytes()


def _write_digits(folder: Path, n: int) -> None:
    """``n`` 28×28 'digits' in MNIST's t10k files: noise with a bright bar whose height is the label."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    labels = (np.arange(n) % 10).astype(np.uint8)
    images = (rng.random((n, 28, 28)) * 60).astype(np.uint8)
    for i, label in enumerate(labels):
        images[i, 2 + 2 * label:6 + 2 * label, 4:24] = 255
    (folder / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(_idx(images)))
    (folder / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(_idx(labels)))


def _write_mesh(path: Path) -> None:
    """A small asymmetric mesh (a box with a cone on one side) as .obj text; no trimesh needed to write it."""
    path.parent.mkdir(parents=True)
    box = [(x, y, z) for x in (-0.5, 0.5) for y in (-0.3, 0.3) for z in (-0.15, 0.15)]
    quads = [(0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4), (1, 5, 7, 3)]
    faces = [f for a, b, c, d in quads for f in ((a, b, c), (a, c, d))]
    ring = [(0.3 + 0.2 * np.cos(t), 0.2 * np.sin(t), 0.15) for t in np.linspace(0, 2 * np.pi, 12, endpoint=False)]
    apex = len(box) + len(ring)
    faces += [(len(box) + i, len(box) + (i + 1) % 12, apex) for i in range(12)]
    lines = [f"v {x:.4f} {y:.4f} {z:.4f}" for x, y, z in box + ring + [(0.3, 0.0, 0.7)]]
    lines += [f"f {a + 1} {b + 1} {c + 1}" for a, b, c in faces]
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_benchmark_runs_with_tiny_settings(script, inputs, tmp_path):
    args, needs, word = SCRIPTS[script]
    for need in needs:
        have, why = NEEDS[need]
        if not have():
            pytest.skip(why)
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"), OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore")
    argv = [sys.executable, str(BENCH / script), *(a.format(**inputs) for a in args)]
    r = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    out = r.stdout + r.stderr
    assert r.returncode == 0, f"{script} failed:\n{out[-3000:]}"
    assert word in out, f"{script} printed no {word!r}:\n{out[-3000:]}"


def test_coverage_halves_are_identity_disjoint_and_recall_matches():
    """benchmarks/coverage.py: whole identities go to one half; realism.manifold_coverage, which it reads per face,
    averages to the recall of realism.precision_recall."""
    spec = importlib.util.spec_from_file_location("coverage_bench", BENCH / "coverage.py")
    cov = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cov)
    from faceedit.errors import FaceEditError
    from faceedit.metrics.realism import kth_nn_radii, manifold_coverage, precision_recall

    records = [{"identity": f"p{i % 37}"} for i in range(200)]
    a, b = cov.identity_disjoint_halves(records, 80, seed=1)
    assert len(a) == len(b) == 80 and not set(a) & set(b)
    assert not {records[i]["identity"] for i in a} & {records[i]["identity"] for i in b}
    with pytest.raises(FaceEditError):
        cov.identity_disjoint_halves(records, 150, seed=1)
    rng = np.random.default_rng(0)
    real, fake = rng.normal(size=(120, 8)), rng.normal(size=(100, 8)) * 0.5 + 0.3
    inside, ratio, nearest = manifold_coverage(torch.as_tensor(real), torch.as_tensor(fake),
                                               kth_nn_radii(torch.as_tensor(fake), 3))
    _, recall = precision_recall(real, fake, k=3)  # reals inside the fakes' manifold
    assert 0 < inside.double().mean().item() < 1
    assert inside.double().mean().item() == pytest.approx(recall)
    assert torch.equal(inside, ratio <= 1)
    d = torch.cdist(torch.as_tensor(real), torch.as_tensor(fake))
    radii = torch.cdist(torch.as_tensor(fake), torch.as_tensor(fake)).sort(dim=1).values[:, 3]  # 3rd neighbour
    assert torch.equal(inside, (d <= radii[None, :]).any(dim=1))
    assert torch.equal(nearest, d.argmin(dim=1))
