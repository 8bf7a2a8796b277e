"""A restricted unpickler for NVIDIA's network pickles that never runs code from the file.

NVIDIA's ``.pkl`` files (stylegan2-ada-pytorch / stylegan3 and the original TensorFlow StyleGAN2) are plain
pickles. Loaded with :func:`pickle.load` they execute the Python source embedded in them (``module_src`` /
``build_module_src``) and can call any function a crafted file names. :class:`RestrictedUnpickler` resolves only
an explicit allow-list of globals:

* tensor and storage rebuild functions, routed through ``torch.load(..., weights_only=True)``;
* numpy array / dtype / scalar reconstruction (for ndarray only);
* a few inert builtins (``set``, ``frozenset``, ``bytearray``, ``OrderedDict`` ...);
* NVIDIA's persistence hook ``torch_utils.persistence._reconstruct_persistent_obj``, replaced by a function that
  records the pickled state in a :class:`PersistentObject` and ignores the embedded source code;
* NVIDIA's TensorFlow ``dnnlib.tflib.network.Network`` class, replaced by :class:`TFNetwork`, which records the
  pickled state (variables as numpy arrays) without importing TensorFlow or executing the build source;
* ``dnnlib.EasyDict`` → :class:`EasyDict` (a plain dict subclass);
* network classes pickled by reference (``training.*``, ``torch.nn.modules.*``) → :class:`ModuleStub`.

Everything else (``os.system``, ``builtins.eval``, ``subprocess.Popen``, ...) raises :class:`UnsafePickleError`
*before* anything is called: the unpickler resolves a global when it reads it, so a refused name never runs.
"""

from __future__ import annotations

import _compat_pickle
import io
import os
import pickle
from collections import OrderedDict
from typing import Any, BinaryIO

from faceedit.errors import FaceEditError


class UnsafePickleError(FaceEditError):
    """The pickle names a callable or class that is not on the allow-list."""


class EasyDict(dict):
    """Stand-in for ``dnnlib.EasyDict``: a dict whose keys can also be read as attributes."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = value


class PersistentObject:
    """What ``persistence._reconstruct_persistent_obj(meta)`` would have built, as inert data.

    ``class_name`` is the network class (e.g. 'Generator', 'SynthesisLayer'); ``state`` its pickled ``__dict__``
    (``_parameters``, ``_buffers``, ``_modules``, ``_init_kwargs``, ...). The embedded ``module_src`` is not kept
    and never executed; only its length is recorded.
    """

    def __init__(self, class_name: str, state: dict, version: Any = None, source_chars: int = 0):
        self.class_name = class_name
        self.state = state
        self.version = version
        self.source_chars = source_chars

    def __repr__(self) -> str:
        return f"PersistentObject({self.class_name!r})"


class ModuleStub:
    """Stand-in for a network class pickled by reference (not through NVIDIA's persistence); records state."""

    qualified_name = "?"

    def __init__(self, *args: Any, **kwargs: Any):
        self.args = args
        self.state: Any = None

    def __setstate__(self, state: Any) -> None:
        self.state = state

    @property
    def class_name(self) -> str:
        return self.qualified_name.rsplit(".", 1)[-1]


class TFNetwork:
    """Stand-in for ``dnnlib.tflib.network.Network``: keeps its pickled state, builds no TensorFlow graph.

    ``state`` holds 'version', 'name', 'static_kwargs', 'components' (dict of TFNetwork), 'build_module_src'
    (not executed), 'build_func_name' and 'variables' (list of (name, numpy array)).
    """

    def __init__(self, *args: Any, **kwargs: Any):
        self.state: dict = {}

    def __setstate__(self, state: dict) -> None:
        self.state = dict(state) if isinstance(state, dict) else {}

    @property
    def name(self) -> str:
        return str(self.state.get("name", ""))

    @property
    def version(self) -> int:
        return int(self.state.get("version", 0))

    @property
    def static_kwargs(self) -> dict:
        return dict(self.state.get("static_kwargs") or {})

    @property
    def components(self) -> dict:
        return dict(self.state.get("components") or {})

    @property
    def variables(self) -> list:
        return list(self.state.get("variables") or [])

    def all_variables(self, prefix: str = "") -> dict[str, Any]:
        """Own variables and those of the components, keyed 'component/name' (legacy.py's naming)."""
        out = {}
        for name, value in self.variables:
            out[prefix + str(name)] = value
        for cname, comp in self.components.items():
            if isinstance(comp, TFNetwork):
                out.update(comp.all_variables(prefix + str(cname) + "/"))
        return out

    def __repr__(self) -> str:
        return f"TFNetwork({self.name!r})"


# --------------------------------------------------------------------------------------------------------------
# Allowed callables. Each is safe to call with any arguments a pickle can supply.

def _reconstruct_persistent_obj(meta: Any) -> PersistentObject:
    if not isinstance(meta, dict):
        raise pickle.UnpicklingError("persistent object metadata is not a dict")
    if meta.get("type", "class") != "class":
        raise pickle.UnpicklingError(f"unsupported persistent object type {meta.get('type')!r}")
    state = meta.get("state")
    if state is None:
        state = {}
    if not isinstance(state, dict):
        raise pickle.UnpicklingError("persistent object state is not a dict")
    src = meta.get("module_src") or ""
    return PersistentObject(str(meta.get("class_name", "?")), state, meta.get("version"),
                            len(src) if isinstance(src, (str, bytes)) else 0)


def _load_from_bytes(b: bytes):
    import torch

    if not isinstance(b, (bytes, bytearray)):
        raise pickle.UnpicklingError("storage payload is not bytes")
    try:
        return torch.load(io.BytesIO(bytes(b)), weights_only=True, map_location="cpu")
    except pickle.UnpicklingError as exc:
        raise UnsafePickleError(f"embedded tensor storage was refused by torch's weights-only loader "
                                f"({' '.join(str(exc).split())[:200]})") from None


def _torch_rebuild(name: str):
    def rebuild(*args: Any):
        import torch._utils as tu

        return getattr(tu, name)(*args)

    rebuild.__name__ = name
    return rebuild


def _np_reconstruct(subtype: Any, shape: Any, dtype: Any):
    import numpy as np

    if subtype is not np.ndarray:
        raise pickle.UnpicklingError("numpy reconstruct of a non-ndarray type")
    try:
        from numpy._core.multiarray import _reconstruct
    except ImportError:  # numpy < 2
        from numpy.core.multiarray import _reconstruct
    return _reconstruct(np.ndarray, shape, dtype)


def _np_scalar(dtype: Any, data: Any = None):
    import numpy as np

    if not isinstance(dtype, np.dtype) or dtype.hasobject:
        raise pickle.UnpicklingError("numpy scalar of a non-numeric dtype")
    if data is None:
        return np.zeros((), dtype=dtype)[()]
    return np.frombuffer(bytes(data), dtype=dtype, count=1)[0]


def _np_frombuffer(buf: Any, dtype: Any, shape: Any, order: str):
    import numpy as np

    if not isinstance(dtype, np.dtype) or dtype.hasobject:
        raise pickle.UnpicklingError("numpy buffer of a non-numeric dtype")
    arr = np.frombuffer(bytes(buf), dtype=dtype)
    return arr.reshape(shape, order="F" if order == "F" else "C").copy()


def _np_dtype(*args: Any):
    import numpy as np

    dt = np.dtype(*args)
    if dt.hasobject:
        raise pickle.UnpicklingError("numpy object dtype")
    return dt


def _codecs_encode(obj: Any, encoding: str = "utf-8", errors: str = "strict"):
    if not isinstance(obj, str):
        raise pickle.UnpicklingError("_codecs.encode of a non-string")
    return obj.encode(encoding, errors)


def _module_stub(qualified: str) -> type:
    return type(qualified.rsplit(".", 1)[-1], (ModuleStub,), {"qualified_name": qualified})


_NP_PREFIXES = ("numpy.core.multiarray", "numpy._core.multiarray")
_STUB_MODULE_PREFIXES = ("training.", "torch.nn.modules.", "torch_utils.ops.")


def _allowed(module: str, name: str) -> Any:
    """The object to use for global ``module.name``, or None when it is not allowed."""
    full = f"{module}.{name}"
    if full in ("collections.OrderedDict",):
        return OrderedDict
    if module == "builtins" and name in ("set", "frozenset", "bytearray", "complex", "slice", "dict", "list",
                                         "tuple", "object"):
        return {"set": set, "frozenset": frozenset, "bytearray": bytearray, "complex": complex, "slice": slice,
                "dict": dict, "list": list, "tuple": tuple, "object": object}[name]
    if full == "_codecs.encode":
        return _codecs_encode
    if full == "copyreg._reconstructor":
        return _copyreg_reconstructor
    if full in ("torch_utils.persistence._reconstruct_persistent_obj",):
        return _reconstruct_persistent_obj
    if full in ("dnnlib.EasyDict", "dnnlib.util.EasyDict"):
        return EasyDict
    if full == "dnnlib.tflib.network.Network":
        return TFNetwork
    if module == "torch.storage" and name == "_load_from_bytes":
        return _load_from_bytes
    if module == "torch._utils" and name in ("_rebuild_tensor", "_rebuild_tensor_v2", "_rebuild_tensor_v3",
                                              "_rebuild_parameter", "_rebuild_parameter_with_state"):
        return _torch_rebuild(name)
    if module == "torch" and name == "Size":
        import torch

        return torch.Size
    if module == "torch" and name == "device":
        import torch

        return torch.device
    if module == "torch":
        import torch

        obj = getattr(torch, name, None)
        if isinstance(obj, torch.dtype):
            return obj
    if module in _NP_PREFIXES and name == "_reconstruct":
        return _np_reconstruct
    if module in _NP_PREFIXES and name == "scalar":
        return _np_scalar
    if module in ("numpy.core.numeric", "numpy._core.numeric") and name == "_frombuffer":
        return _np_frombuffer
    if full == "numpy.ndarray":
        import numpy as np

        return np.ndarray
    if full == "numpy.dtype":
        return _NpDtype
    if module.startswith(_STUB_MODULE_PREFIXES) and name[:1].isupper() and name.isidentifier():
        return _module_stub(full)
    return None


class _NpDtype:
    """``numpy.dtype`` as a pickle sees it: called with (spec, align, copy), then given its state via BUILD."""

    def __new__(cls, *args: Any):
        return _np_dtype(*args)


def _copyreg_reconstructor(cls: Any, base: Any, state: Any):
    # Protocol 0/1 object creation; only allow-listed stand-ins and plain containers can reach here.
    allowed_cls = isinstance(cls, type) and (issubclass(cls, (EasyDict, ModuleStub, TFNetwork, OrderedDict))
                                             or cls in (dict, list, set, object))
    if not allowed_cls or base not in (object, dict, list, set):
        raise pickle.UnpicklingError("copyreg reconstruct of a class outside the allow-list")
    if base is object:
        return object.__new__(cls)
    obj = base.__new__(cls, state)
    base.__init__(obj, state)
    return obj


class RestrictedUnpickler(pickle.Unpickler):
    """``pickle.Unpickler`` that resolves only allow-listed globals (see the module docstring)."""

    def __init__(self, file: BinaryIO, source: str = "<pickle>"):
        super().__init__(file, encoding="latin1")
        self.source = source

    def find_class(self, module: str, name: str) -> Any:
        # Python 2 names (protocol 0-2 pickles), mapped as pickle itself does.
        if (module, name) in _compat_pickle.NAME_MAPPING:
            module, name = _compat_pickle.NAME_MAPPING[(module, name)]
        elif module in _compat_pickle.IMPORT_MAPPING:
            module = _compat_pickle.IMPORT_MAPPING[module]
        obj = _allowed(module, name)
        if obj is None:
            raise UnsafePickleError(f"refusing to load {self.source}: the pickle asks to run {module}.{name}, "
                                    "which is not allowed")
        return obj

    def persistent_load(self, pid: Any) -> Any:
        raise pickle.UnpicklingError("persistent id in a plain pickle (a torch.save file?)")


def safe_load(file: BinaryIO | str | os.PathLike, source: str | None = None) -> Any:
    """Unpickle ``file`` (a path or a binary file object) with :class:`RestrictedUnpickler`.

    Raises :class:`UnsafePickleError` (a :class:`FaceEditError`) when the pickle names anything outside the
    allow-list, and FaceEditError for a truncated or corrupt pickle.
    """
    if isinstance(file, (str, os.PathLike)):
        from faceedit.limits import regular_file

        source = source or str(file)
        regular_file(file, "pickle file")  # opening a FIFO would block forever
        with open(file, "rb") as f:
            return safe_load(f, source)
    source = source or getattr(file, "name", "<pickle>")
    try:
        return RestrictedUnpickler(file, source).load()
    except UnsafePickleError:
        raise
    except EOFError:
        raise FaceEditError(f"{source} is truncated (the pickle ends early)") from None
    except (pickle.UnpicklingError, ValueError, TypeError, AttributeError, KeyError, IndexError,
            UnicodeDecodeError, OverflowError, MemoryError, RuntimeError) as exc:
        msg = " ".join(str(exc).split())[:200]
        if "truncated" in msg:
            raise FaceEditError(f"{source} is truncated (the pickle ends early)") from None
        raise FaceEditError(f"{source} is not a readable checkpoint pickle ({type(exc).__name__}: {msg})") from None
