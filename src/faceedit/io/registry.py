"""Named models: where to download them, their checksums, and how ``--model`` specs resolve to files.

sha256 values are recorded only where a public source states them for the exact bytes at that URL; where none
was found the entry has ``sha256=None`` and ``faceedit models fetch`` prints the checksum it computed, saying it
could not be verified against a published value. ``mirrors`` are alternative URLs, each with its own checksum.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from faceedit.errors import FaceEditError

#: The weights shipped inside the package (default generator, directions, encoder, classifier, parser).
ASSETS = Path(__file__).resolve().parent.parent / "assets"
DEFAULT_MODEL = "default"
DEFAULT_ASSET = "default_generator.safetensors"
#: The shipped adapted (art) generators, usable by name: ``--model mona_lisa``.
ART_ASSETS = ASSETS / "art"


@dataclass(frozen=True)
class Mirror:
    url: str
    sha256: str | None = None
    size: int | None = None
    note: str = ""


@dataclass(frozen=True)
class ModelEntry:
    name: str
    description: str
    url: str | None
    sha256: str | None
    size: int | None  # bytes, when known
    format: str  # 'nvidia-pkl', 'tf-pkl', 'rosinality', 'native'
    resolution: int
    licence: str
    filename: str
    sha256_source: str = ""
    mirrors: tuple[Mirror, ...] = field(default_factory=tuple)
    config: dict = field(default_factory=dict)  # GeneratorConfig fields the file must have (checked on load)


_NVIDIA_NC = "Nvidia Source Code License-NC (non-commercial research use)"
_CONFIG_F = {"resolution": 1024, "z_dim": 512, "w_dim": 512, "channel_base": 32768, "channel_max": 512,
             "mapping_layers": 8}

REGISTRY: dict[str, ModelEntry] = {e.name: e for e in [
    ModelEntry(
        name="ffhq-1024-pt",
        description="NVIDIA StyleGAN2 FFHQ 1024 config-f, stylegan2-ada-pytorch pickle (converted from TF)",
        url="https://nvlabs-fi-cdn.nvidia.com/stylegan2-ada-pytorch/pretrained/ffhq.pkl",
        sha256=None, size=None, format="nvidia-pkl", resolution=1024, licence=_NVIDIA_NC, filename="ffhq.pkl",
        sha256_source="none published by NVIDIA", config=_CONFIG_F),
    ModelEntry(
        name="ffhq-1024-tf",
        description="NVIDIA StyleGAN2 FFHQ 1024 config-f, original TensorFlow pickle",
        url="https://nvlabs-fi-cdn.nvidia.com/stylegan2/networks/stylegan2-ffhq-config-f.pkl",
        sha256=None, size=None, format="tf-pkl", resolution=1024, licence=_NVIDIA_NC,
        filename="stylegan2-ffhq-config-f.pkl", sha256_source="none published by NVIDIA", config=_CONFIG_F),
    ModelEntry(
        name="ffhq-512",
        description="NVIDIA StyleGAN2 FFHQ 512 (stylegan3 release, cfg=stylegan2), PyTorch pickle",
        url="https://api.ngc.nvidia.com/v2/models/nvidia/research/stylegan2/versions/1/files/"
            "stylegan2-ffhq-512x512.pkl",
        sha256=None, size=None, format="nvidia-pkl", resolution=512, licence=_NVIDIA_NC,
        filename="stylegan2-ffhq-512x512.pkl", sha256_source="none published by NVIDIA",
        config={"resolution": 512, "z_dim": 512, "w_dim": 512},
        mirrors=(Mirror("https://huggingface.co/DragGan/DragGan-Models/resolve/refs%2Fpr%2F2/"
                        "stylegan2-ffhq-512x512.pkl",
                        "d2b1c92f41ce8a64c55f7a75ef06c4c0eef9e17b1eb29aae8c10fb37b3e60478", None,
                        "Hugging Face copy (DragGAN), sha256 from its Git LFS pointer"),)),
    ModelEntry(
        name="ffhq-256",
        description="NVIDIA StyleGAN2 FFHQ 256 (stylegan3 release, cfg=stylegan2), PyTorch pickle",
        url="https://api.ngc.nvidia.com/v2/models/nvidia/research/stylegan2/versions/1/files/"
            "stylegan2-ffhq-256x256.pkl",
        sha256=None, size=None, format="nvidia-pkl", resolution=256, licence=_NVIDIA_NC,
        filename="stylegan2-ffhq-256x256.pkl", sha256_source="none published by NVIDIA",
        config={"resolution": 256, "z_dim": 512, "w_dim": 512}),
    ModelEntry(
        name="ffhq-1024-rosinality",
        description="rosinality stylegan2-pytorch FFHQ 1024 config-f .pt (g, d, g_ema; the file pSp/e4e use)",
        url="https://huggingface.co/akhaliq/OneshotCLIP-stylegan2-ffhq/resolve/main/stylegan2-ffhq-config-f.pt",
        sha256="bae494ef77e32a9cd1792a81a3c167692a0e64f6bcd8b06592ff42917e2ed46e", size=381462551,
        format="rosinality", resolution=1024, licence=_NVIDIA_NC + " (weights converted from NVIDIA's)",
        filename="stylegan2-ffhq-config-f.pt",
        sha256_source="Git LFS pointer of the Hugging Face copy (the same oid is listed by a second, independent "
                      "Hugging Face upload of this file)",
        mirrors=(Mirror("https://drive.usercontent.google.com/download?id=1EM87UquaoQmk17Q8d5kYIAHqu0dkYqdT"
                        "&export=download&confirm=t",
                        "bae494ef77e32a9cd1792a81a3c167692a0e64f6bcd8b06592ff42917e2ed46e", 381462551,
                        "rosinality's Google Drive original (linked from pSp/e4e)"),),
        config=_CONFIG_F),
    ModelEntry(
        name="e4e-ffhq-encode",
        description="e4e encoder for FFHQ 1024 (IR-SE50 + Encoder4Editing) with its rosinality generator: "
                    "--encoder for invert/pivotal tuning, or --model",
        url="https://drive.usercontent.google.com/download?id=1cUv_reLE6k3604or78EranS7XzuVMWeO"
            "&export=download&confirm=t",
        sha256=None, size=None, format="psp", resolution=1024,
        licence="MIT (omertov/encoder4editing); the generator inside: " + _NVIDIA_NC,
        filename="e4e_ffhq_encode.pt", sha256_source="none published (omertov/encoder4editing README links "
                                                     "Google Drive only); computed at fetch, marked unverified",
        config=_CONFIG_F),
    ModelEntry(
        name="psp-ffhq-encode",
        description="pSp encoder for FFHQ 1024 (IR-SE50 + GradualStyleEncoder) with its rosinality generator",
        url="https://drive.usercontent.google.com/download?id=1bMTNWkh5LArlaWSc_wa8VKyq2V42T2z0"
            "&export=download&confirm=t",
        sha256=None, size=None, format="psp", resolution=1024,
        licence="MIT (eladrich/pixel2style2pixel); the generator inside: " + _NVIDIA_NC,
        filename="psp_ffhq_encode.pt", sha256_source="none published (eladrich/pixel2style2pixel README links "
                                                     "Google Drive only); computed at fetch, marked unverified",
        config=_CONFIG_F),
]}


def default_cache_dir() -> Path:
    """$FACEEDIT_CACHE, else ~/.cache/faceedit."""
    env = os.environ.get("FACEEDIT_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "faceedit"


def shipped_art_names() -> list[str]:
    """Names of the adapted generators shipped in ``assets/art`` (each usable as ``--model NAME``)."""
    return sorted(p.stem for p in ART_ASSETS.glob("*.safetensors")) if ART_ASSETS.is_dir() else []


def get_entry(name: str) -> ModelEntry:
    try:
        return REGISTRY[name]
    except KeyError:
        known = ", ".join(["default", *REGISTRY, *shipped_art_names()])
        raise FaceEditError(f"unknown model name {name!r}; known: {known} (or give a checkpoint path)") from None


def model_path(name: str, cache_dir: str | os.PathLike | None = None) -> Path:
    """Where ``faceedit models fetch NAME`` stores the file (it may not exist yet)."""
    entry = get_entry(name)
    root = Path(cache_dir).expanduser() if cache_dir else default_cache_dir()
    return root / entry.name / entry.filename


def default_model_path() -> Path:
    """The embedded default generator shipped in ``faceedit/assets`` (FaceEditError if it is missing)."""
    p = ASSETS / DEFAULT_ASSET
    if not p.is_file():
        raise FaceEditError(f"the embedded default model is missing ({p}); reinstall faceedit or pass --model "
                            "with a checkpoint path or a fetched model name")
    return p


def _looks_like_path(spec: str) -> bool:
    return os.sep in spec or "/" in spec or spec.startswith(".") or "." in Path(spec).name


def resolve_model(spec: str | os.PathLike | None, cache_dir: str | os.PathLike | None = None) -> Path:
    """Path of the checkpoint a ``--model`` value names: 'default', a registry name (fetched), a shipped adapted
    generator's name (``mona_lisa``) or a path."""
    if spec is None or str(spec) == DEFAULT_MODEL or str(spec) == "":
        return default_model_path()
    if isinstance(spec, os.PathLike):
        path = Path(spec)
        if not path.exists():
            raise FaceEditError(f"checkpoint not found: {path}")
        return path
    spec = str(spec)
    if spec in REGISTRY:
        p = model_path(spec, cache_dir)
        if not p.is_file():
            raise FaceEditError(f"model {spec!r} is not downloaded yet; run: faceedit models fetch {spec}")
        return p
    if spec in shipped_art_names():
        return ART_ASSETS / f"{spec}.safetensors"
    path = Path(spec).expanduser()
    if path.exists():
        return path
    if _looks_like_path(spec):
        raise FaceEditError(f"checkpoint not found: {spec}")
    get_entry(spec)  # raises: unknown name
    raise AssertionError("unreachable")
