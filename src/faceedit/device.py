"""The one place that decides where networks run and in which precision (``--device``, ``--precision``).

Devices: ``auto`` (the first CUDA GPU when there is one, else Apple's ``mps`` when available, else the CPU),
``cpu``, ``cuda``, ``cuda:N``, ``mps``. A device that is asked for but absent is a one-line error, never a silent
fall-back.

Precisions (:data:`PRECISIONS`):

* ``auto`` — on CUDA, NVIDIA's own recipe for StyleGAN2: the top four synthesis resolutions compute in float16 with
  every convolution output clamped to ±256 (``num_fp16_res=4, conv_clamp=256`` as in stylegan2-ada-pytorch;
  without the clamp, float16 overflows in the last blocks); everything else float32. On CPU and MPS: float32.
* ``fp32`` — float32 everywhere.
* ``fp16`` — the CUDA recipe above (refused on CPU: float16 convolutions there are slow and unsupported in places).
* ``bf16`` — every synthesis block in bfloat16 (CPU with AVX-512 BF16 / AMX, or a GPU); same range as float32,
  so no clamp is needed; about 3 significant digits.

Use :func:`resolve` to turn the two strings into a :class:`Compute`, then :meth:`Compute.prepare_generator` once on
the generator and pass :attr:`Compute.synthesis_dtype` to its synthesis calls.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from faceedit.errors import FaceEditError

if TYPE_CHECKING:  # torch loads on first use: the command line's help reads this module without it
    import torch

DEVICE_HELP = "auto (a GPU when there is one), cpu, cuda, cuda:N or mps"
PRECISION_HELP = ("auto (CUDA: float16 in the top 4 resolutions with NVIDIA's clamp of 256, else float32), fp32, "
                  "fp16 (CUDA only), bf16 (CPUs with AVX-512 BF16 / AMX, GPUs)")
PRECISIONS = ("auto", "fp32", "fp16", "bf16")
FP16_RESOLUTIONS = 4  # NVIDIA's num_fp16_res for config-f
FP16_CLAMP = 256.0  # NVIDIA's conv_clamp

_SPEC = re.compile(r"(auto|cpu|mps|cuda)(?::([0-9]{1,3}))?")


def _mps_available() -> bool:
    import torch

    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def resolve_device(spec: str | torch.device | None = "auto") -> torch.device:
    """``spec`` → a :class:`torch.device` that exists on this machine (see the module docstring)."""
    import torch

    if isinstance(spec, torch.device):
        spec = str(spec)
    text = "auto" if spec is None else str(spec).strip().lower()
    m = _SPEC.fullmatch(text)
    if not m or (m.group(2) is not None and m.group(1) != "cuda"):
        raise FaceEditError(f"bad --device {str(spec)[:40]!r}: use {DEVICE_HELP}")
    kind, index = m.group(1), m.group(2)
    if kind == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", 0)
        return torch.device("mps") if _mps_available() else torch.device("cpu")
    if kind == "cpu":
        return torch.device("cpu")
    if kind == "mps":
        if not _mps_available():
            raise FaceEditError("--device mps: Apple's Metal (MPS) backend is not available on this machine")
        return torch.device("mps")
    if not torch.cuda.is_available():
        raise FaceEditError(f"--device {text}: no CUDA GPU is available (this PyTorch "
                            f"{'has no CUDA support' if torch.version.cuda is None else 'sees no GPU'}); "
                            "use --device cpu or auto")
    n = torch.cuda.device_count()
    i = int(index or 0)
    if i >= n:
        raise FaceEditError(f"--device {text}: this machine has {n} CUDA GPU(s), numbered 0-{n - 1}")
    return torch.device("cuda", i)


@dataclass(frozen=True)
class Compute:
    """A resolved device and precision. ``synthesis_dtype``: the dtype to pass to the synthesis network (None:
    float32, except the blocks :meth:`prepare_generator` marked for float16 on CUDA)."""

    device: torch.device
    precision: str  # fp32 | fp16 | bf16 (resolved; never 'auto')

    @property
    def synthesis_dtype(self) -> torch.dtype | None:
        import torch

        return torch.bfloat16 if self.precision == "bf16" else None

    @property
    def fp16_blocks(self) -> bool:
        return self.precision == "fp16"

    def describe(self) -> str:
        import torch

        name = str(self.device)
        if self.device.type == "cuda":
            name += f" ({torch.cuda.get_device_name(self.device)})"
        what = {"fp32": "float32", "bf16": "bfloat16",
                "fp16": f"float16 in the top {FP16_RESOLUTIONS} resolutions, clamp {FP16_CLAMP:g}"}[self.precision]
        return f"{name}, {what}"

    def prepare_generator(self, G: torch.nn.Module) -> torch.nn.Module:
        """Move ``G`` to the device, make :attr:`synthesis_dtype` its synthesis network's default compute dtype
        (bf16), and set its blocks' float16 use: NVIDIA's top-resolution float16 with the ±256 clamp for ``fp16``;
        none otherwise (a file's own ``num_fp16_res`` is overridden, so that ``fp32`` means float32). Returns
        ``G``."""
        G.to(self.device)
        synthesis = getattr(G, "synthesis", G)
        if hasattr(synthesis, "compute_dtype"):
            synthesis.compute_dtype = self.synthesis_dtype
        blocks = sorted((b for b in synthesis.modules() if hasattr(b, "use_fp16") and hasattr(b, "resolution")),
                        key=lambda b: b.resolution)
        top = {b.resolution for b in blocks[-FP16_RESOLUTIONS:]} if self.fp16_blocks else set()
        for b in blocks:
            b.use_fp16 = b.resolution in top
            if b.use_fp16:
                for layer in b.modules():
                    if hasattr(layer, "conv_clamp") and layer.conv_clamp is None:
                        layer.conv_clamp = FP16_CLAMP
        return G


def resolve_precision(precision: str | None, device: torch.device) -> str:
    """``precision`` ('auto', 'fp32', 'fp16', 'bf16') for ``device`` → 'fp32', 'fp16' or 'bf16'."""
    p = "auto" if precision is None else str(precision).strip().lower()
    if p not in PRECISIONS:
        raise FaceEditError(f"bad --precision {str(precision)[:20]!r}: use {', '.join(PRECISIONS)}")
    if p == "auto":
        return "fp16" if device.type == "cuda" else "fp32"
    if p == "fp16" and device.type != "cuda":
        raise FaceEditError(f"--precision fp16 needs a CUDA GPU (this run is on {device.type}); on a CPU use "
                            "--precision bf16 or fp32")
    return p


def resolve(device: str | torch.device | None = "auto", precision: str | None = "auto") -> Compute:
    """The :class:`Compute` for the two command-line strings."""
    dev = resolve_device(device)
    return Compute(dev, resolve_precision(precision, dev))
