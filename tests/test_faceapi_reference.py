"""The PyTorch port against the original face-api.js running in Node (tfjs pure-JS CPU backend).

Needs node, the npm packages in ``.cache/node`` (or ``$FACEAPI_NODE_PREFIX``)::

    npm install --prefix .cache/node @tensorflow/tfjs@4.22.0 @vladmandic/face-api@1.7.15

and the fetched weights (``faceedit scorers fetch-faceapi``); skips with the reason otherwise.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from faceedit.scorers import faceapi as fa
from faceedit.scorers import fetch

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "faceapi_reference.mjs"
PREFIX = Path(os.environ.get("FACEAPI_NODE_PREFIX", ROOT / ".cache" / "node"))
FACE = ROOT.parent / "shared" / "data" / "celebamask-hq" / "images" / "00002.jpg"
INSTALL = "npm install --prefix .cache/node @tensorflow/tfjs@4.22.0 @vladmandic/face-api@1.7.15"


def _skip_reason() -> str | None:
    if shutil.which("node") is None:
        return "node not found"
    for pkg in ("@tensorflow/tfjs", "@vladmandic/face-api"):
        if not (PREFIX / "node_modules" / pkg / "package.json").is_file():
            return f"{pkg} not installed in {PREFIX}: {INSTALL}"
    if not fetch.have_weights():
        return f"face-api weights not in {fetch.resolve_dir(None)}: run {fetch.FETCH_COMMAND}"
    return None


pytestmark = pytest.mark.skipif(_skip_reason() is not None, reason=_skip_reason() or "")


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """A non-square batch (a real face, or a smooth pattern without the data, and noise) run through Node."""
    g = torch.Generator().manual_seed(0)
    h, w = 150, 124  # not square: exercises padToSquare and both resizes (→ 112 and → 150)
    if FACE.is_file():
        from PIL import Image

        im = Image.open(FACE).convert("RGB").resize((w, h), Image.BILINEAR)
        face = torch.from_numpy(np.asarray(im).copy()).permute(2, 0, 1)[None].float() / 127.5 - 1
    else:
        yy, xx = torch.meshgrid(torch.linspace(-1, 1, h), torch.linspace(-1, 1, w), indexing="ij")
        face = torch.stack([torch.sin(3 * xx), torch.cos(2 * yy), xx * yy])[None]
    img = torch.cat([face, torch.rand(1, 3, h, w, generator=g) * 2 - 1])
    pixels = ((img + 1) * 127.5).permute(0, 2, 3, 1).contiguous().numpy().astype("<f4")
    tmp = tmp_path_factory.mktemp("faceapi_ref")
    src = tmp / "input.json"
    src.write_text(json.dumps({"shape": list(pixels.shape), "data": base64.b64encode(pixels.tobytes()).decode()}))
    proc = subprocess.run(["node", str(SCRIPT), "--models", str(fetch.resolve_dir(None)), "--input", str(src),
                           "--prefix", str(PREFIX)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["versions"]["faceapi"] == "1.7.15" and out["versions"]["backend"] == "cpu"
    return img, out


def _outputs(img, dtype):
    api = fa.FaceApi(fetch.resolve_dir(None)).to(dtype)
    kw = {"box": None, "resize": "faceapi"}  # exactly what face-api does with the tensor it is given
    with torch.no_grad():
        ag = api.age_gender(img, **kw)
        return {"expression": api.expressions(img, **kw), "landmarks": api.landmarks(img, relative=True, **kw),
                "age": ag.age, "p_male": ag.p_male, "recognition": api.identity(img, **kw)}


@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-5), (torch.float32, 1e-5)])
def test_port_matches_faceapi_in_node(reference, dtype, tol):
    img, ref = reference
    ours = {k: v.double().numpy() for k, v in _outputs(img, dtype).items()}
    n = len(img)
    checks = {
        "expression": (np.asarray(ref["expression"]), ours["expression"]),
        "landmarks": (np.asarray(ref["landmarks"]), ours["landmarks"].reshape(n, 136)),
        "p_male": (np.asarray(ref["gender"])[:, 0], ours["p_male"]),
        "recognition": (np.asarray(ref["recognition"]), ours["recognition"]),
        # age is in years (tens): relative
        "age": (np.asarray(ref["age"]) / 100.0, ours["age"] / 100.0),
    }
    for name, (want, got) in checks.items():
        assert want.shape == got.shape, name
        err = np.abs(want - got).max()
        assert err < tol, f"{name}: max |port - face-api| = {err:.2e}"
