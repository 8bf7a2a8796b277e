"""NVIDIA stylegan2-ada-pytorch / stylegan3 (``cfg=stylegan2``) network pickles, read without running their code.

Such a pickle is a dict ``{'G', 'D', 'G_ema', 'training_set_kwargs', 'augment_pipe'}`` whose networks were saved
by ``torch_utils.persistence``: each is a call ``_reconstruct_persistent_obj(meta)`` with ``meta = {type, version,
module_src, class_name, state}``. :mod:`faceedit.io.safe_pickle` turns each into a
:class:`~faceedit.io.safe_pickle.PersistentObject`; here its ``state`` (``_parameters``, ``_buffers``,
``_modules`` recursively, ``_init_kwargs``) becomes a flat state dict, and the embedded source is ignored.
"""

from __future__ import annotations

from typing import Any

import torch

from faceedit.errors import FaceEditError
from faceedit.io.convert import strip_nvidia_extras
from faceedit.io.parts import CheckpointParts, StateDict
from faceedit.io.safe_pickle import ModuleStub, PersistentObject

_NETWORK_TYPES = (PersistentObject, ModuleStub)


def is_nvidia_pickle(data: Any) -> bool:
    return isinstance(data, dict) and isinstance(data.get("G_ema"), _NETWORK_TYPES)


def _state(obj: Any) -> dict:
    state = getattr(obj, "state", None)
    if isinstance(state, tuple) and len(state) == 2 and isinstance(state[1], dict):  # (dict, slots) form
        state = {**(state[0] or {}), **state[1]}
    return state if isinstance(state, dict) else {}


def flatten_network(obj: Any, prefix: str = "") -> StateDict:
    """Parameters and persistent buffers of a pickled module tree, keyed like ``module.state_dict()``."""
    state = _state(obj)
    out: StateDict = {}
    skip = set(state.get("_non_persistent_buffers_set") or ())
    for group in ("_parameters", "_buffers"):
        for name, value in (state.get(group) or {}).items():
            if value is None or (group == "_buffers" and name in skip):
                continue
            if not isinstance(value, torch.Tensor):
                raise FaceEditError(f"pickled network tensor {prefix}{name} is not a tensor")
            out[prefix + name] = value.detach()
    for name, child in (state.get("_modules") or {}).items():
        if child is None:
            continue
        if not isinstance(child, _NETWORK_TYPES):
            raise FaceEditError(f"pickled sub-network {prefix}{name} is not a network object")
        out.update(flatten_network(child, f"{prefix}{name}."))
    return out


def _kwargs(obj: Any) -> dict:
    kw = _state(obj).get("_init_kwargs") or {}
    return dict(kw) if isinstance(kw, dict) else {}


def g_hints(kwargs: dict) -> dict:
    hints: dict[str, Any] = {}
    if int(kwargs.get("c_dim", 0) or 0):
        raise FaceEditError("conditional (c_dim > 0) NVIDIA generators are not supported")
    syn = dict(kwargs.get("synthesis_kwargs") or {})
    mapping = dict(kwargs.get("mapping_kwargs") or {})
    arch = syn.get("architecture", "skip")
    if arch != "skip":
        raise FaceEditError(f"NVIDIA generator architecture {arch!r} is not supported (only 'skip')")
    for ours, theirs, src in (("channel_base", "channel_base", syn), ("channel_max", "channel_max", syn),
                              ("num_fp16_res", "num_fp16_res", syn), ("conv_clamp", "conv_clamp", syn),
                              ("mapping_lr_mult", "lr_multiplier", mapping), ("w_avg_beta", "w_avg_beta", mapping)):
        if theirs in src:
            hints[ours] = src[theirs]
    if "conv_clamp" not in hints:
        hints["conv_clamp"] = None  # NVIDIA's default
    return hints


def d_hints(kwargs: dict) -> dict:
    if int(kwargs.get("c_dim", 0) or 0):
        raise FaceEditError("conditional (c_dim > 0) NVIDIA discriminators are not supported")
    arch = kwargs.get("architecture", "resnet")
    if arch != "resnet":
        raise FaceEditError(f"NVIDIA discriminator architecture {arch!r} is not supported (only 'resnet')")
    hints: dict[str, Any] = {"conv_clamp": kwargs.get("conv_clamp")}
    for key in ("channel_base", "channel_max", "num_fp16_res"):
        if key in kwargs:
            hints[key] = kwargs[key]
    epi = dict(kwargs.get("epilogue_kwargs") or {})
    if epi.get("mbstd_group_size") is not None:
        hints["mbstd_group_size"] = int(epi["mbstd_group_size"])
    return hints


def _check_stylegan2(sd: StateDict, source: str) -> None:
    if any(k.startswith("synthesis.input.") or k.startswith("synthesis.L0_") for k in sd):
        raise FaceEditError(f"{source} is an alias-free StyleGAN3 network (cfg=stylegan3-t/r); only StyleGAN2 "
                            "networks (cfg=stylegan2) are supported")
    if any(k.startswith("mapping.embed.") for k in sd):
        raise FaceEditError(f"{source} is a conditional (class-label) network; only unconditional ones are supported")


def read_nvidia_pickle(data: dict, source: str) -> CheckpointParts:
    """CheckpointParts from a dict unpickled by :func:`faceedit.io.safe_pickle.safe_load`."""
    nets = {}
    for key in ("G_ema", "G", "D"):
        obj = data.get(key)
        if obj is None:
            continue
        if not isinstance(obj, _NETWORK_TYPES):
            raise FaceEditError(f"{source}: entry {key!r} is not a pickled network")
        nets[key] = strip_nvidia_extras(flatten_network(obj))
    _check_stylegan2(nets["G_ema"], source)
    kw_g = _kwargs(data["G_ema"])
    parts = CheckpointParts("nvidia-pkl", nets["G_ema"], nets.get("G"), nets.get("D"), g_hints=g_hints(kw_g))
    if "D" in data and data["D"] is not None:
        parts.d_hints = d_hints(_kwargs(data["D"]))
    parts.meta = {"classes": {k: getattr(data[k], "class_name", "?") for k in nets},
                  "init_kwargs": _jsonable(kw_g)}
    tsk = data.get("training_set_kwargs")
    if isinstance(tsk, dict):
        parts.meta["training_set_kwargs"] = _jsonable(tsk)
    return parts


def _jsonable(x: Any) -> Any:
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, (str, int, float, bool)) or x is None:
        return x
    try:
        return x.item()  # numpy scalar
    except (AttributeError, ValueError):
        return str(x)
