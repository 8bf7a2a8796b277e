"""Inception-v3 as FID uses it: the 2048-d pool3 features of the TensorFlow graph ``inception-2015-12-05``,
with its weights read from a file the user supplies (none can be had offline here).

The network is the FID variant of Inception-v3, which differs from torchvision's ImageNet model in ways that change
the numbers:

* the 3×3 average pools in the A, C and first E blocks do not count the zero padding (``count_include_pad=False``);
* the last E block (``Mixed_7c``) pools its fourth branch with a 3×3 *max* pool;
* the classifier has 1008 classes (the TF graph's), not 1000;
* every batch norm has eps 0.001.

Input: images [N, 3, H, W] as floats in [-1, 1] (what :func:`faceedit.metrics.realism.extract` passes; uint8 pixel v
becomes v / 127.5 − 1, FID's scaling); they are resized to 299×299 bilinearly (``align_corners=False``, no
antialiasing, as pytorch-fid and NVIDIA's detector do). Output: [N, 2048] float32 pool3 features.

Weight files read (all without running code from the file):

* pytorch-fid's ``pt_inception-2015-12-05-6726825d.pth`` (also torch-fidelity's copy): a plain state dict with
  torchvision's names (``Conv2d_1a_3x3.conv.weight``, ``Mixed_5b.branch1x1.bn.running_var``, ``fc.weight`` ...),
  read with ``torch.load(weights_only=True)``;
* the same tensors as ``.safetensors`` or ``.npz`` (same names);
* NVIDIA's TorchScript ``inception-2015-12-05.pt`` (stylegan2-ada-pytorch): its tensors are read from the archive's
  ``data.pkl`` with a restricted unpickler (the TorchScript code in it is never loaded) and renamed from its
  ``layers.mixed_N.tower_K...`` / ``output.*`` names; its batch norms have no scale, which is 1;
* NVIDIA's pickled ``inception-2015-12-05.pkl`` (stylegan3) is unpickled with the project's restricted unpickler;
  when its tensors cannot be found that way it is refused with a message naming the file to use instead.

Every name and shape is checked; a wrong file raises a one-line :class:`FaceEditError` naming the first missing or
mismatched tensor.
"""

from __future__ import annotations

import io
import os
import pickle
import zipfile
from collections import OrderedDict
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from faceedit.errors import FaceEditError

PYTORCH_FID_FILE = "pt_inception-2015-12-05-6726825d.pth"
PYTORCH_FID_URL = ("https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/"
                   "pt_inception-2015-12-05-6726825d.pth")
WHERE_TO_GET = (f"standard FID needs the Inception-v3 weights of pytorch-fid: {PYTORCH_FID_FILE} (a release asset "
                f"of github.com/mseitzer/pytorch-fid, {PYTORCH_FID_URL}); download it where there is internet and "
                "pass it with --inception-weights FILE")
INPUT_SIZE = 299
FEATURE_DIM = 2048
NUM_CLASSES = 1008


# ------------------------------------------------------------------------------------------------- network
class BasicConv2d(nn.Module):
    """Convolution without bias → batch norm (eps 0.001) → ReLU."""

    def __init__(self, cin: int, cout: int, kernel_size, stride=1, padding=0):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel_size, stride=stride, padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=0.001)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)))


def _avg3(x: torch.Tensor) -> torch.Tensor:
    """3×3 stride-1 average pool whose border windows average only the pixels inside (TF's 'SAME' pooling)."""
    return F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)


class BlockA(nn.Module):
    """Mixed_5b-5d (35×35): 1×1 | 1×1→5×5 | 1×1→3×3→3×3 | avg-pool→1×1."""

    def __init__(self, cin: int, pool_features: int):
        super().__init__()
        self.branch1x1 = BasicConv2d(cin, 64, 1)
        self.branch5x5_1 = BasicConv2d(cin, 48, 1)
        self.branch5x5_2 = BasicConv2d(48, 64, 5, padding=2)
        self.branch3x3dbl_1 = BasicConv2d(cin, 64, 1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, 3, padding=1)
        self.branch_pool = BasicConv2d(cin, pool_features, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([
            self.branch1x1(x),
            self.branch5x5_2(self.branch5x5_1(x)),
            self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x))),
            self.branch_pool(_avg3(x)),
        ], 1)


class BlockB(nn.Module):
    """Mixed_6a (35 → 17): 3×3/2 | 1×1→3×3→3×3/2 | max-pool 3×3/2."""

    def __init__(self, cin: int):
        super().__init__()
        self.branch3x3 = BasicConv2d(cin, 384, 3, stride=2)
        self.branch3x3dbl_1 = BasicConv2d(cin, 64, 1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([
            self.branch3x3(x),
            self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x))),
            F.max_pool2d(x, 3, stride=2),
        ], 1)


class BlockC(nn.Module):
    """Mixed_6b-6e (17×17): 1×1 | 1×1→1×7→7×1 | 1×1→7×1→1×7→7×1→1×7 | avg-pool→1×1."""

    def __init__(self, cin: int, c7: int):
        super().__init__()
        self.branch1x1 = BasicConv2d(cin, 192, 1)
        self.branch7x7_1 = BasicConv2d(cin, c7, 1)
        self.branch7x7_2 = BasicConv2d(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7_3 = BasicConv2d(c7, 192, (7, 1), padding=(3, 0))
        self.branch7x7dbl_1 = BasicConv2d(cin, c7, 1)
        self.branch7x7dbl_2 = BasicConv2d(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = BasicConv2d(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = BasicConv2d(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = BasicConv2d(c7, 192, (1, 7), padding=(0, 3))
        self.branch_pool = BasicConv2d(cin, 192, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        d = x
        for i in range(1, 6):
            d = getattr(self, f"branch7x7dbl_{i}")(d)
        return torch.cat([self.branch1x1(x), b7, d, self.branch_pool(_avg3(x))], 1)


class BlockD(nn.Module):
    """Mixed_7a (17 → 8): 1×1→3×3/2 | 1×1→1×7→7×1→3×3/2 | max-pool 3×3/2."""

    def __init__(self, cin: int):
        super().__init__()
        self.branch3x3_1 = BasicConv2d(cin, 192, 1)
        self.branch3x3_2 = BasicConv2d(192, 320, 3, stride=2)
        self.branch7x7x3_1 = BasicConv2d(cin, 192, 1)
        self.branch7x7x3_2 = BasicConv2d(192, 192, (1, 7), padding=(0, 3))
        self.branch7x7x3_3 = BasicConv2d(192, 192, (7, 1), padding=(3, 0))
        self.branch7x7x3_4 = BasicConv2d(192, 192, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b = self.branch7x7x3_4(self.branch7x7x3_3(self.branch7x7x3_2(self.branch7x7x3_1(x))))
        return torch.cat([self.branch3x3_2(self.branch3x3_1(x)), b, F.max_pool2d(x, 3, stride=2)], 1)


class BlockE(nn.Module):
    """Mixed_7b/7c (8×8): 1×1 | 1×1→(1×3 ‖ 3×1) | 1×1→3×3→(1×3 ‖ 3×1) | pool→1×1.

    ``pool`` is "avg" (padding not counted) in Mixed_7b and "max" in Mixed_7c: the TF graph's quirk FID keeps."""

    def __init__(self, cin: int, pool: str):
        super().__init__()
        if pool not in ("avg", "max"):
            raise ValueError(f"pool must be 'avg' or 'max', got {pool!r}")
        self.pool = pool
        self.branch1x1 = BasicConv2d(cin, 320, 1)
        self.branch3x3_1 = BasicConv2d(cin, 384, 1)
        self.branch3x3_2a = BasicConv2d(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3_2b = BasicConv2d(384, 384, (3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = BasicConv2d(cin, 448, 1)
        self.branch3x3dbl_2 = BasicConv2d(448, 384, 3, padding=1)
        self.branch3x3dbl_3a = BasicConv2d(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = BasicConv2d(384, 384, (3, 1), padding=(1, 0))
        self.branch_pool = BasicConv2d(cin, 192, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.branch3x3_1(x)
        d = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        p = _avg3(x) if self.pool == "avg" else F.max_pool2d(x, 3, stride=1, padding=1)
        return torch.cat([
            self.branch1x1(x),
            self.branch3x3_2a(a), self.branch3x3_2b(a),
            self.branch3x3dbl_3a(d), self.branch3x3dbl_3b(d),
            self.branch_pool(p),
        ], 1)


class InceptionV3FID(nn.Module):
    """FID's Inception-v3: images [N, 3, H, W] in [-1, 1] → pool3 features [N, 2048] (``forward``) or the 1008
    logits (``logits``). Module names are torchvision's, so pytorch-fid's state dict loads as it is."""

    name = "inception"

    def __init__(self):
        super().__init__()
        self.Conv2d_1a_3x3 = BasicConv2d(3, 32, 3, stride=2)
        self.Conv2d_2a_3x3 = BasicConv2d(32, 32, 3)
        self.Conv2d_2b_3x3 = BasicConv2d(32, 64, 3, padding=1)
        self.Conv2d_3b_1x1 = BasicConv2d(64, 80, 1)
        self.Conv2d_4a_3x3 = BasicConv2d(80, 192, 3)
        self.Mixed_5b = BlockA(192, 32)
        self.Mixed_5c = BlockA(256, 64)
        self.Mixed_5d = BlockA(288, 64)
        self.Mixed_6a = BlockB(288)
        self.Mixed_6b = BlockC(768, 128)
        self.Mixed_6c = BlockC(768, 160)
        self.Mixed_6d = BlockC(768, 160)
        self.Mixed_6e = BlockC(768, 192)
        self.Mixed_7a = BlockD(768)
        self.Mixed_7b = BlockE(1280, "avg")
        self.Mixed_7c = BlockE(2048, "max")
        self.fc = nn.Linear(FEATURE_DIM, NUM_CLASSES)

    @staticmethod
    def prepare(img: torch.Tensor) -> torch.Tensor:
        """[N, 3, H, W] in [-1, 1] (or uint8) → float32 [N, 3, 299, 299] in [-1, 1], resized bilinearly."""
        if img.ndim != 4 or img.shape[1] != 3:
            raise FaceEditError(f"Inception features need images [N, 3, H, W], got {tuple(img.shape)}")
        x = img.float() / 127.5 - 1 if img.dtype == torch.uint8 else img.float()
        if tuple(x.shape[-2:]) != (INPUT_SIZE, INPUT_SIZE):
            x = F.interpolate(x, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False)
        return x

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        p = next(self.parameters())
        x = self.prepare(img).to(p.device, p.dtype)
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
        x = F.max_pool2d(x, 3, stride=2)                       # 147 → 73
        x = self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x))
        x = F.max_pool2d(x, 3, stride=2)                       # 71 → 35
        for name in ("Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b", "Mixed_6c", "Mixed_6d",
                     "Mixed_6e", "Mixed_7a", "Mixed_7b", "Mixed_7c"):
            x = getattr(self, name)(x)
        return x.mean(dim=(2, 3)).float()                      # pool3: [N, 2048]

    def logits(self, img: torch.Tensor) -> torch.Tensor:
        """The 1008 class logits (index 0 is the TF graph's 'background' class)."""
        return self.fc(self(img))


def expected_shapes() -> dict[str, tuple[int, ...]]:
    """Name → shape of every tensor a weights file must hold (built on the meta device: no memory, no time)."""
    with torch.device("meta"):
        net = InceptionV3FID()
    return {k: tuple(v.shape) for k, v in net.state_dict().items() if not k.endswith("num_batches_tracked")}


# ------------------------------------------------------------------------------------------- NVIDIA's names
# NVIDIA's TorchScript detector (a direct translation of the TF graph) names its layers after the graph's nodes:
# layers.conv..conv_4 (the stem), layers.mixed..mixed_10 (the eleven blocks), output (the classifier); inside a
# block, branches are 'conv' (the lone 1×1) and 'tower', 'tower_1', 'tower_2' with their own conv, conv_1 ...
# Paths inside a block are compared with '.' read as '_', so 'tower_1.mixed.conv_1' and 'tower_1_mixed_conv_1' agree.
_NV_STEM = {"conv": "Conv2d_1a_3x3", "conv_1": "Conv2d_2a_3x3", "conv_2": "Conv2d_2b_3x3", "conv_3": "Conv2d_3b_1x1",
            "conv_4": "Conv2d_4a_3x3"}
_NV_A = {"conv": "branch1x1", "tower_conv": "branch5x5_1", "tower_conv_1": "branch5x5_2",
         "tower_1_conv": "branch3x3dbl_1", "tower_1_conv_1": "branch3x3dbl_2", "tower_1_conv_2": "branch3x3dbl_3",
         "tower_2_conv": "branch_pool"}
_NV_B = {"conv": "branch3x3", "tower_conv": "branch3x3dbl_1", "tower_conv_1": "branch3x3dbl_2",
         "tower_conv_2": "branch3x3dbl_3"}
_NV_C = {"conv": "branch1x1", "tower_conv": "branch7x7_1", "tower_conv_1": "branch7x7_2",
         "tower_conv_2": "branch7x7_3", "tower_2_conv": "branch_pool",
         **{("tower_1_conv" + (f"_{i}" if i else "")): f"branch7x7dbl_{i + 1}" for i in range(5)}}
_NV_D = {"tower_conv": "branch3x3_1", "tower_conv_1": "branch3x3_2",
         **{("tower_1_conv" + (f"_{i}" if i else "")): f"branch7x7x3_{i + 1}" for i in range(4)}}
_NV_E = {"conv": "branch1x1", "tower_conv": "branch3x3_1", "tower_mixed_conv": "branch3x3_2a",
         "tower_mixed_conv_1": "branch3x3_2b", "tower_1_conv": "branch3x3dbl_1", "tower_1_conv_1": "branch3x3dbl_2",
         "tower_1_mixed_conv": "branch3x3dbl_3a", "tower_1_mixed_conv_1": "branch3x3dbl_3b",
         "tower_2_conv": "branch_pool"}
_NV_BLOCKS = {"mixed": ("Mixed_5b", _NV_A), "mixed_1": ("Mixed_5c", _NV_A), "mixed_2": ("Mixed_5d", _NV_A),
              "mixed_3": ("Mixed_6a", _NV_B), "mixed_4": ("Mixed_6b", _NV_C), "mixed_5": ("Mixed_6c", _NV_C),
              "mixed_6": ("Mixed_6d", _NV_C), "mixed_7": ("Mixed_6e", _NV_C), "mixed_8": ("Mixed_7a", _NV_D),
              "mixed_9": ("Mixed_7b", _NV_E), "mixed_10": ("Mixed_7c", _NV_E)}
_LEAVES = ("conv.weight", "bn.weight", "bn.bias", "bn.running_mean", "bn.running_var", "bn.num_batches_tracked")


def is_nvidia_layout(state: dict[str, Any]) -> bool:
    return any(k.startswith("layers.") for k in state) and not any(k.startswith("Mixed_") for k in state)


def from_nvidia_layout(state: dict[str, torch.Tensor], source: str) -> dict[str, torch.Tensor]:
    """Rename NVIDIA detector tensors to torchvision's names; add the unit BN scales its graph leaves out."""
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if key in ("output.weight", "output.bias"):
            out["fc." + key.split(".")[1]] = value
            continue
        leaf = next((lf for lf in _LEAVES if key.endswith("." + lf)), None)
        parts = key[: -len(leaf) - 1].split(".") if leaf else []
        if leaf is None or len(parts) < 2 or parts[0] != "layers":
            raise FaceEditError(f"{source}: unknown tensor {key!r} in an NVIDIA Inception file")
        if len(parts) == 2 and parts[1] in _NV_STEM:
            out[f"{_NV_STEM[parts[1]]}.{leaf}"] = value
            continue
        block = _NV_BLOCKS.get(parts[1])
        inner = "_".join(parts[2:])
        if block is None or inner not in block[1]:
            raise FaceEditError(f"{source}: unknown tensor {key!r} in an NVIDIA Inception file")
        out[f"{block[0]}.{block[1][inner]}.{leaf}"] = value
    for key in list(out):
        if key.endswith(".bn.bias"):
            out.setdefault(key[:-4] + "weight", torch.ones_like(out[key]))
    return out


# ----------------------------------------------------------------------------------------- reading files
class _ScriptObject:
    """Inert stand-in for a TorchScript module object (``__torch__.*``): records its attributes, runs nothing."""

    qualified_name = "?"

    def __setstate__(self, state: Any) -> None:
        self.__dict__["attrs"] = state if isinstance(state, dict) else {}


_STORAGE_DTYPES = {"FloatStorage": torch.float32, "DoubleStorage": torch.float64, "HalfStorage": torch.float16,
                   "BFloat16Storage": torch.bfloat16, "LongStorage": torch.int64, "IntStorage": torch.int32,
                   "ShortStorage": torch.int16, "CharStorage": torch.int8, "ByteStorage": torch.uint8,
                   "BoolStorage": torch.bool}


class _StorageType:
    def __init__(self, dtype: torch.dtype):
        self.dtype = dtype


def _rebuild_tensor(storage: Any, offset: Any, size: Any, stride: Any, *rest: Any) -> torch.Tensor:
    if not isinstance(storage, torch.Tensor) or storage.ndim != 1:
        raise pickle.UnpicklingError("tensor without a storage")
    return torch.as_strided(storage, tuple(size), tuple(stride), int(offset)).clone()


class _ScriptUnpickler(pickle.Unpickler):
    """Reads a TorchScript archive's ``data.pkl``: module objects become :class:`_ScriptObject`, tensors are rebuilt
    from the archive's ``data/`` records; any other global (a function, a class outside ``__torch__``) is refused."""

    def __init__(self, data: bytes, records: zipfile.ZipFile, prefix: str, source: str):
        super().__init__(io.BytesIO(data))
        self.records, self.prefix, self.source = records, prefix, source

    def find_class(self, module: str, name: str) -> Any:
        if module == "__torch__" or module.startswith("__torch__."):
            return type(name, (_ScriptObject,), {"qualified_name": f"{module}.{name}"})
        if module == "torch._utils" and name in ("_rebuild_tensor", "_rebuild_tensor_v2"):
            return _rebuild_tensor
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(_STORAGE_DTYPES[name])
        if module == "collections" and name == "OrderedDict":
            return OrderedDict
        if module == "torch.jit._pickle" and name in ("build_intlist", "build_doublelist", "build_boollist",
                                                      "build_tensorlist"):
            return list
        if module == "torch.jit._pickle" and name == "restore_type_tag":
            return lambda value, _type=None: value
        raise pickle.UnpicklingError(f"{self.source} asks to run {module}.{name}, which is not allowed")

    def persistent_load(self, pid: Any) -> Any:
        if not (isinstance(pid, tuple) and len(pid) >= 4 and pid[0] == "storage"
                and isinstance(pid[1], _StorageType)):
            raise pickle.UnpicklingError(f"unexpected persistent id in {self.source}")
        dtype, key = pid[1].dtype, str(pid[2])
        raw = self.records.read(f"{self.prefix}data/{key}")
        return torch.frombuffer(bytearray(raw), dtype=dtype) if raw else torch.empty(0, dtype=dtype)


def _script_tensors(obj: Any, prefix: str = "", depth: int = 0) -> dict[str, torch.Tensor]:
    out: dict[str, torch.Tensor] = {}
    if depth > 32 or not isinstance(obj, _ScriptObject):
        return out
    for name, value in getattr(obj, "attrs", {}).items():
        if isinstance(value, torch.Tensor):
            out[f"{prefix}{name}"] = value
        elif isinstance(value, _ScriptObject):
            out.update(_script_tensors(value, f"{prefix}{name}.", depth + 1))
    return out


def read_torchscript_tensors(data: bytes | str | os.PathLike, source: str) -> dict[str, torch.Tensor]:
    """Named tensors of a TorchScript archive (``torch.jit.save``), read without loading its code."""
    try:
        zf = zipfile.ZipFile(io.BytesIO(data) if isinstance(data, (bytes, bytearray)) else data)
        with zf:
            pkl = next((n for n in zf.namelist() if n.endswith("data.pkl") and n.count("/") == 1), None)
            if pkl is None:
                raise FaceEditError(f"{source}: a zip archive without data.pkl (not a TorchScript file)")
            prefix = pkl[: -len("data.pkl")]
            root = _ScriptUnpickler(zf.read(pkl), zf, prefix, source).load()
    except FaceEditError:
        raise
    except (pickle.UnpicklingError, zipfile.BadZipFile, KeyError, ValueError, TypeError, RuntimeError,
            EOFError, AttributeError, IndexError) as exc:
        raise FaceEditError(f"cannot read the TorchScript archive {source}: "
                            f"{' '.join(str(exc).split())[:200]}") from None
    return _script_tensors(root)


def _pickle_tensors(path: Path) -> dict[str, torch.Tensor] | None:
    """Tensors of NVIDIA's pickled detector, if the restricted unpickler can reach them; None otherwise."""
    from faceedit.io.nvidia_pkl import flatten_network
    from faceedit.io.safe_pickle import ModuleStub, PersistentObject, safe_load

    try:
        obj = safe_load(path)
    except FaceEditError:
        return None
    seen: list[Any] = [obj]
    for _ in range(10000):
        if not seen:
            break
        item = seen.pop()
        if isinstance(item, (bytes, bytearray)) and bytes(item[:4]) == b"PK\x03\x04":
            try:
                return read_torchscript_tensors(bytes(item), str(path))
            except FaceEditError:
                continue
        if isinstance(item, (PersistentObject, ModuleStub)):
            try:
                flat = flatten_network(item)
            except FaceEditError:
                flat = {}
            if len(flat) > 100:
                return flat
            state = getattr(item, "state", None)
            seen.extend(state.values() if isinstance(state, dict) else [state])
        elif isinstance(item, dict):
            seen.extend(item.values())
        elif isinstance(item, (list, tuple)):
            seen.extend(item)
    return None


def read_weight_file(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """The tensors of an Inception weights file in any layout above, with torchvision's names (not yet checked)."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise FaceEditError(f"Inception weights not found: {path}; {WHERE_TO_GET}")
    source = str(path)
    try:
        with open(path, "rb") as f:
            head = f.read(16)
    except OSError as exc:
        raise FaceEditError(f"cannot read Inception weights {path} ({exc.strerror}); {WHERE_TO_GET}") from None
    state: Any
    try:
        if head[:4] == b"PK\x03\x04":
            with zipfile.ZipFile(path) as zf:
                names = zf.namelist()
            if names and all(n.endswith(".npy") for n in names):
                import numpy as np

                with np.load(path, allow_pickle=False) as z:
                    state = {k: torch.from_numpy(z[k].copy()) for k in z.files}
            elif any("/code/" in n for n in names):
                state = read_torchscript_tensors(path, source)
            else:
                state = torch.load(path, map_location="cpu", weights_only=True)
        elif path.suffix.lower() == ".safetensors" or (len(head) > 8 and head[8:9] == b"{"):
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            try:
                state = torch.load(path, map_location="cpu", weights_only=True)
            except Exception:  # noqa: BLE001 - a pickle torch refuses: try NVIDIA's pickled detector
                state = _pickle_tensors(path) if head[:1] == b"\x80" else None
                if state is None:
                    raise
    except FaceEditError:
        raise
    except Exception as exc:  # noqa: BLE001 - whatever the file is, it is not weights we can read
        if path.suffix.lower() == ".pkl":
            raise FaceEditError(f"{path}: NVIDIA's pickled Inception could not be read without running its code; "
                                f"use pytorch-fid's {PYTORCH_FID_FILE} ({PYTORCH_FID_URL}) or NVIDIA's TorchScript "
                                "inception-2015-12-05.pt") from None
        raise FaceEditError(f"cannot read Inception weights {path} ({type(exc).__name__}: "
                            f"{' '.join(str(exc).split())[:160]}); {WHERE_TO_GET}") from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not state:
        raise FaceEditError(f"{path} holds no state dict (a mapping of names to tensors); {WHERE_TO_GET}")
    state = {str(k).removeprefix("module."): v for k, v in state.items() if isinstance(v, torch.Tensor)}
    return from_nvidia_layout(state, source) if is_nvidia_layout(state) else state


def check_state(state: dict[str, torch.Tensor], source: str) -> dict[str, torch.Tensor]:
    """The tensors the network needs, float32; raises a one-line FaceEditError at the first missing, misshapen or
    unknown tensor."""
    expected = expected_shapes()
    for key, shape in expected.items():
        if key not in state:
            raise FaceEditError(f"{source} is not FID's Inception-v3: tensor {key} is missing "
                                f"({len(state)} tensors in the file); {WHERE_TO_GET}")
        got = tuple(state[key].shape)
        if got != shape:
            hint = (" (1000 classes: torchvision's ImageNet Inception, not the FID network)"
                    if key.startswith("fc.") and got[:1] == (1000,) else "")
            raise FaceEditError(f"{source} is not FID's Inception-v3: {key} has shape {list(got)}, expected "
                                f"{list(shape)}{hint}; {WHERE_TO_GET}")
    extra = sorted(k for k in state if k not in expected and not k.endswith("num_batches_tracked"))
    if extra:
        raise FaceEditError(f"{source} is not FID's Inception-v3: unexpected tensor {extra[0]} "
                            f"({len(extra)} unexpected); {WHERE_TO_GET}")
    for key in expected:
        if not state[key].is_floating_point():
            raise FaceEditError(f"{source}: tensor {key} is not floating point")
    return {k: state[k].float() for k in expected}


def load_inception(path: str | os.PathLike, device: str | torch.device = "cpu") -> InceptionV3FID:
    """FID's Inception-v3 with the weights of ``path`` (any layout in the module docstring), in eval mode."""
    state = check_state(read_weight_file(path), str(path))
    net = InceptionV3FID()
    net.load_state_dict(state, strict=False)  # every needed key is checked above; BN counters are not needed
    return net.eval().requires_grad_(False).to(device)
