"""NVIDIA's original TensorFlow StyleGAN2 pickles (``stylegan2-ffhq-config-f.pkl``), read without TensorFlow.

The pickle is a tuple ``(G, D, Gs)`` of ``dnnlib.tflib.network.Network`` objects; :mod:`faceedit.io.safe_pickle`
turns each into a :class:`~faceedit.io.safe_pickle.TFNetwork` holding its variables as numpy arrays (its build
source is never executed). :mod:`faceedit.io.convert` maps the variable names and layouts to ours.
"""

from __future__ import annotations

import re
from typing import Any

from faceedit.errors import FaceEditError
from faceedit.io.convert import (tf_d_hints, tf_discriminator_rules, tf_g_hints, tf_generator_rules,
                                 tf_to_ours)
from faceedit.io.parts import CheckpointParts, StateDict
from faceedit.io.safe_pickle import TFNetwork
from faceedit.nn import DiscriminatorConfig, GeneratorConfig


def is_tf_pickle(data: Any) -> bool:
    return isinstance(data, tuple) and len(data) == 3 and all(isinstance(n, TFNetwork) for n in data)


def convert_tf_generator(net: TFNetwork, source: str) -> tuple[StateDict, dict]:
    if net.version < 4:
        raise FaceEditError(f"{source}: TensorFlow network pickle version {net.version} is too old (need 4)")
    tf_vars = net.all_variables()
    res = [int(m.group(1)) for k in tf_vars for m in [re.match(r"synthesis/(\d+)x\1/", k)] if m]
    fcs = [int(m.group(1)) for k in tf_vars for m in [re.fullmatch(r"mapping/Dense(\d+)/weight", k)] if m]
    if not res or not fcs:
        raise FaceEditError(f"{source}: TensorFlow generator {net.name!r} has no synthesis/mapping variables")
    if any(re.match(r"synthesis/ToRGB_lod\d+/", k) for k in tf_vars):
        raise FaceEditError(f"{source}: TensorFlow generator uses the 'orig' architecture; only 'skip' is supported")
    naming = GeneratorConfig(resolution=max(res), mapping_layers=max(fcs) + 1)
    sd = tf_to_ours(tf_vars, tf_generator_rules(naming), "generator", source)
    return sd, tf_g_hints(net.static_kwargs)


def convert_tf_discriminator(net: TFNetwork, source: str) -> tuple[StateDict, dict]:
    if net.version < 4:
        raise FaceEditError(f"{source}: TensorFlow network pickle version {net.version} is too old (need 4)")
    tf_vars = net.all_variables()
    res = [int(m.group(1)) for k in tf_vars for m in [re.fullmatch(r"(\d+)x\1/FromRGB/weight", k)] if m]
    if len(res) != 1:
        raise FaceEditError(f"{source}: TensorFlow discriminator is not the 'resnet' architecture (FromRGB layers: "
                            f"{len(res)})")
    sd = tf_to_ours(tf_vars, tf_discriminator_rules(DiscriminatorConfig(resolution=res[0])), "discriminator",
                    source)
    return sd, tf_d_hints(net.static_kwargs)


def read_tf_pickle(data: tuple, source: str) -> CheckpointParts:
    tf_G, tf_D, tf_Gs = data
    g_ema, hints = convert_tf_generator(tf_Gs, source)
    g, _ = convert_tf_generator(tf_G, source)
    d, dh = convert_tf_discriminator(tf_D, source)
    meta = {"tf_names": [tf_G.name, tf_D.name, tf_Gs.name],
            "static_kwargs": {k: (v if isinstance(v, (str, int, float, bool, type(None))) else str(v))
                              for k, v in tf_Gs.static_kwargs.items()}}
    return CheckpointParts("tf-pkl", g_ema, g, d, g_hints=hints, d_hints=dh, meta=meta)
