"""Fixture writers for the checkpoint-format tests.

Each writer produces a small checkpoint with the real structure and key names of its format from tiny
faceedit networks. The layout conversions here are written independently of faceedit.io.convert (from the
formats' own conventions), so a wrong mapping in the library cannot be mirrored by the fixture.
"""

from __future__ import annotations

import contextlib
import math
import pickle
import sys
import types
from collections import OrderedDict

import numpy as np
import torch

from faceedit.nn import Discriminator, DiscriminatorConfig, Generator, GeneratorConfig

TINY_G = dict(z_dim=32, w_dim=32, resolution=32, channel_base=512, channel_max=32, mapping_layers=2)
TINY_D = dict(resolution=32, channel_base=512, channel_max=32)


def tiny_nets(seed: int = 0, resolution: int = 32) -> tuple[Generator, Generator, Discriminator]:
    """(G_ema, G, D) with every tensor randomised (non-zero biases, noise strengths and w_avg)."""
    torch.manual_seed(seed)
    gcfg = GeneratorConfig(**{**TINY_G, "resolution": resolution})
    dcfg = DiscriminatorConfig(**{**TINY_D, "resolution": resolution})
    nets = []
    for make in (lambda: Generator(gcfg), lambda: Generator(gcfg), lambda: Discriminator(dcfg)):
        net = make().eval()
        with torch.no_grad():
            for name, t in net.state_dict().items():
                if t.dtype.is_floating_point:
                    t.add_(torch.randn_like(t) * (0.2 if t.ndim <= 1 else 0.05))
        nets.append(net)
    return tuple(nets)


# ----------------------------------------------------------------------------------------------------------------
# NVIDIA stylegan2-ada-pytorch pickle


@contextlib.contextmanager
def fake_modules(**modules: types.ModuleType):
    """Temporarily register modules (e.g. 'torch_utils.persistence') so pickle can name their globals."""
    saved = {name: sys.modules.get(name) for name in modules}
    sys.modules.update(modules)
    try:
        yield
    finally:
        for name, old in saved.items():
            if old is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = old


def _nvidia_modules():
    tu = types.ModuleType("torch_utils")
    pers = types.ModuleType("torch_utils.persistence")

    def _reconstruct_persistent_obj(meta):  # never called while writing
        raise RuntimeError("fixture only")

    _reconstruct_persistent_obj.__module__ = "torch_utils.persistence"
    _reconstruct_persistent_obj.__qualname__ = "_reconstruct_persistent_obj"
    pers._reconstruct_persistent_obj = _reconstruct_persistent_obj
    tu.persistence = pers
    dn = types.ModuleType("dnnlib")
    dn_util = types.ModuleType("dnnlib.util")

    class EasyDict(dict):
        pass

    EasyDict.__module__ = "dnnlib.util"
    EasyDict.__qualname__ = "EasyDict"
    dn_util.EasyDict = EasyDict
    dn.util = dn_util
    dn.EasyDict = EasyDict
    return {"torch_utils": tu, "torch_utils.persistence": pers, "dnnlib": dn, "dnnlib.util": dn_util}, \
        _reconstruct_persistent_obj, EasyDict


class _Persistent:
    """Pickles like an object of a ``@persistence.persistent_class`` class."""

    def __init__(self, func, class_name: str, state: dict, module_src: str):
        self.func, self.class_name, self.state, self.module_src = func, class_name, state, module_src

    def __reduce__(self):
        meta = dict(type="class", version=6, module_src=self.module_src, class_name=self.class_name,
                    state=self.state)
        return (self.func, (meta,), None)


_RESAMPLE_OWNERS = {"SynthesisLayer", "SynthesisBlock", "Conv2dLayer", "DiscriminatorBlock"}


def _persistent_tree(module: torch.nn.Module, func, module_src: str, init_kwargs: dict | None = None):
    d = module.__dict__
    state = {}
    for k, v in d.items():
        if k in ("_parameters", "_buffers", "_modules"):
            continue
        if isinstance(v, (bool, int, float, str, type(None), OrderedDict, set)) and not isinstance(v, type):
            if isinstance(v, (OrderedDict, set)) and len(v):
                continue  # hooks: keep only empty containers
            state[k] = v
    state["_parameters"] = OrderedDict((k, torch.nn.Parameter(v.detach().clone(), requires_grad=False))
                                       for k, v in d["_parameters"].items() if v is not None)
    state["_buffers"] = OrderedDict((k, v.detach().clone()) for k, v in d["_buffers"].items() if v is not None)
    if type(module).__name__ in _RESAMPLE_OWNERS:  # NVIDIA's FIR filter buffers (dropped by the loader)
        f = torch.tensor([1.0, 3.0, 3.0, 1.0])
        state["_buffers"]["resample_filter"] = (f[None] * f[:, None]) / 64
    state["_modules"] = OrderedDict((k, _persistent_tree(v, func, module_src)) for k, v in d["_modules"].items())
    state["_init_args"] = ()
    state["_init_kwargs"] = init_kwargs or {}
    return _Persistent(func, type(module).__name__, state, module_src)


def write_nvidia_pkl(path, G_ema: Generator, G: Generator | None, D: Discriminator | None, protocol: int = 4,
                     module_src: str = "raise SystemExit('the pickled source code must never run')\n") -> None:
    mods, func, EasyDict = _nvidia_modules()
    c = G_ema.cfg
    g_kwargs = dict(z_dim=c.z_dim, c_dim=0, w_dim=c.w_dim, img_resolution=c.resolution,
                    img_channels=c.img_channels,
                    mapping_kwargs=EasyDict(num_layers=c.mapping_layers, lr_multiplier=c.mapping_lr_mult),
                    synthesis_kwargs=EasyDict(channel_base=c.channel_base, channel_max=c.channel_max,
                                              num_fp16_res=c.num_fp16_res, conv_clamp=c.conv_clamp))
    data = {"G": _persistent_tree(G, func, module_src, g_kwargs) if G is not None else None,
            "G_ema": _persistent_tree(G_ema, func, module_src, g_kwargs)}
    if D is not None:
        dc = D.cfg
        data["D"] = _persistent_tree(D, func, module_src, dict(
            c_dim=0, img_resolution=dc.resolution, img_channels=dc.img_channels, architecture="resnet",
            channel_base=dc.channel_base, channel_max=dc.channel_max, num_fp16_res=0, conv_clamp=dc.conv_clamp,
            epilogue_kwargs=EasyDict(mbstd_group_size=dc.mbstd_group_size)))
    data["training_set_kwargs"] = EasyDict(path="ffhq.zip", resolution=c.resolution, use_labels=False)
    data["augment_pipe"] = None
    with fake_modules(**mods):
        blob = pickle.dumps(data, protocol=protocol)
    with open(path, "wb") as f:
        f.write(blob)


# ----------------------------------------------------------------------------------------------------------------
# NVIDIA TensorFlow pickle


def _tf_module():
    net_mod = types.ModuleType("dnnlib.tflib.network")

    class Network:
        def __init__(self, state):
            self._state = state

        def __getstate__(self):
            return self._state

    Network.__module__ = "dnnlib.tflib.network"
    Network.__qualname__ = "Network"
    net_mod.Network = Network
    tflib = types.ModuleType("dnnlib.tflib")
    tflib.network = net_mod
    dn = types.ModuleType("dnnlib")
    dn.tflib = tflib
    return {"dnnlib": dn, "dnnlib.tflib": tflib, "dnnlib.tflib.network": net_mod}, Network


def _a(t: torch.Tensor) -> np.ndarray:
    return t.detach().numpy().astype(np.float32).copy()


def tf_generator_vars(G: Generator) -> tuple[list, list, list]:
    """(own, mapping, synthesis) TF variable lists (name, array) for a faceedit generator."""
    sd = G.state_dict()
    c = G.cfg
    own = [("lod", np.float32(0.0)), ("dlatent_avg", _a(sd["mapping.w_avg"]))]
    mapping = []
    for i in range(c.mapping_layers):
        mapping += [(f"Dense{i}/weight", _a(sd[f"mapping.fc{i}.weight"]).T.copy()),
                    (f"Dense{i}/bias", _a(sd[f"mapping.fc{i}.bias"]))]
    syn = []
    noise_idx = 0
    for r in c.block_resolutions:
        layers = [("conv1", "Conv")] if r == 4 else [("conv0", "Conv0_up"), ("conv1", "Conv1")]
        if r == 4:
            syn.append(("4x4/Const/const", _a(sd["synthesis.b4.const"])[None]))
        for ours, tf in layers:
            p = f"synthesis.b{r}.{ours}"
            w = _a(sd[f"{p}.weight"]).transpose(2, 3, 1, 0)  # [kh, kw, in, out]
            if tf == "Conv0_up":
                w = w[::-1, ::-1]  # TF's transposed-conv weight is stored flipped relative to NVIDIA's
            syn += [(f"{r}x{r}/{tf}/weight", np.ascontiguousarray(w)),
                    (f"{r}x{r}/{tf}/mod_weight", _a(sd[f"{p}.affine.weight"]).T.copy()),
                    (f"{r}x{r}/{tf}/mod_bias", _a(sd[f"{p}.affine.bias"]) - 1),
                    (f"{r}x{r}/{tf}/noise_strength", np.float32(sd[f"{p}.noise_strength"].item())),
                    (f"{r}x{r}/{tf}/bias", _a(sd[f"{p}.bias"]))]
            syn.append((f"noise{noise_idx}", _a(sd[f"{p}.noise_const"])[None, None]))
            noise_idx += 1
        p = f"synthesis.b{r}.torgb"
        syn += [(f"{r}x{r}/ToRGB/weight", np.ascontiguousarray(_a(sd[f"{p}.weight"]).transpose(2, 3, 1, 0))),
                (f"{r}x{r}/ToRGB/mod_weight", _a(sd[f"{p}.affine.weight"]).T.copy()),
                (f"{r}x{r}/ToRGB/mod_bias", _a(sd[f"{p}.affine.bias"]) - 1),
                (f"{r}x{r}/ToRGB/bias", _a(sd[f"{p}.bias"]))]
    return own, mapping, syn


def tf_discriminator_vars(D: Discriminator) -> list:
    sd = D.state_dict()
    R = D.cfg.resolution

    def conv(k):
        return np.ascontiguousarray(_a(sd[k]).transpose(2, 3, 1, 0))

    out = [(f"{R}x{R}/FromRGB/weight", conv(f"b{R}.fromrgb.weight")), (f"{R}x{R}/FromRGB/bias",
                                                                       _a(sd[f"b{R}.fromrgb.bias"]))]
    r = R
    while r > 4:
        out += [(f"{r}x{r}/Conv0/weight", conv(f"b{r}.conv0.weight")), (f"{r}x{r}/Conv0/bias", _a(sd[f"b{r}.conv0.bias"])),
                (f"{r}x{r}/Conv1_down/weight", conv(f"b{r}.conv1.weight")),
                (f"{r}x{r}/Conv1_down/bias", _a(sd[f"b{r}.conv1.bias"])),
                (f"{r}x{r}/Skip/weight", conv(f"b{r}.skip.weight"))]
        r //= 2
    out += [("4x4/Conv/weight", conv("b4.conv.weight")), ("4x4/Conv/bias", _a(sd["b4.conv.bias"])),
            ("4x4/Dense0/weight", _a(sd["b4.fc.weight"]).T.copy()), ("4x4/Dense0/bias", _a(sd["b4.fc.bias"])),
            ("Output/weight", _a(sd["b4.out.weight"]).T.copy()), ("Output/bias", _a(sd["b4.out.bias"]))]
    return out


def write_tf_pkl(path, Gs: Generator, G: Generator, D: Discriminator, protocol: int = 3) -> None:
    mods, Network = _tf_module()
    c = Gs.cfg
    src = "raise SystemExit('the TF build source must never run')\n"

    def g_net(net: Generator, name: str):
        own, mapping, syn = tf_generator_vars(net)
        kwargs = dict(num_channels=3, resolution=c.resolution, label_size=0, fmap_base=c.channel_base // 2,
                      fmap_max=c.channel_max, latent_size=c.z_dim, dlatent_size=c.w_dim,
                      mapping_layers=c.mapping_layers)
        comp = {"mapping": Network(dict(version=4, name=f"{name}_mapping", static_kwargs=kwargs, components={},
                                        build_module_src=src, build_func_name="G_mapping", variables=mapping)),
                "synthesis": Network(dict(version=4, name=f"{name}_synthesis", static_kwargs=kwargs,
                                          components={}, build_module_src=src,
                                          build_func_name="G_synthesis_stylegan2", variables=syn))}
        return Network(dict(version=4, name=name, static_kwargs=kwargs, components=comp, build_module_src=src,
                            build_func_name="G_main", variables=own))

    d_net = Network(dict(version=4, name="D", static_kwargs=dict(num_channels=3, resolution=c.resolution,
                                                                 label_size=0, fmap_base=D.cfg.channel_base // 2,
                                                                 fmap_max=D.cfg.channel_max),
                         components={}, build_module_src=src, build_func_name="D_stylegan2",
                         variables=tf_discriminator_vars(D)))
    data = (g_net(G, "G"), d_net, g_net(Gs, "Gs"))
    with fake_modules(**mods):
        blob = pickle.dumps(data, protocol=protocol)
    with open(path, "wb") as f:
        f.write(blob)


def tf_config_f_variables(resolution: int = 1024) -> dict[str, tuple[int, ...]]:
    """Every TF variable name and shape of NVIDIA's FFHQ config-f Gs (mapping + synthesis + own)."""
    def nf(r):
        return min(32768 // r, 512)

    out = {"dlatent_avg": (512,), "lod": ()}
    for i in range(8):
        out[f"mapping/Dense{i}/weight"] = (512, 512)
        out[f"mapping/Dense{i}/bias"] = (512,)
    log2 = int(math.log2(resolution))
    for i in range(2 * log2 - 3):
        r = 2 ** ((i + 5) // 2)
        out[f"synthesis/noise{i}"] = (1, 1, r, r)
    out["synthesis/4x4/Const/const"] = (1, 512, 4, 4)
    for r in (2 ** k for k in range(2, log2 + 1)):
        convs = [("Conv", nf(r), nf(r))] if r == 4 else [("Conv0_up", nf(r // 2), nf(r)), ("Conv1", nf(r), nf(r))]
        for name, cin, cout in convs:
            q = f"synthesis/{r}x{r}/{name}"
            out.update({f"{q}/weight": (3, 3, cin, cout), f"{q}/mod_weight": (512, cin), f"{q}/mod_bias": (cin,),
                        f"{q}/noise_strength": (), f"{q}/bias": (cout,)})
        q = f"synthesis/{r}x{r}/ToRGB"
        out.update({f"{q}/weight": (1, 1, nf(r), 3), f"{q}/mod_weight": (512, nf(r)), f"{q}/mod_bias": (nf(r),),
                    f"{q}/bias": (3,)})
    return out


def tf_config_f_d_variables(resolution: int = 1024) -> dict[str, tuple[int, ...]]:
    def nf(r):
        return min(32768 // r, 512)

    R = resolution
    out = {f"{R}x{R}/FromRGB/weight": (1, 1, 3, nf(R)), f"{R}x{R}/FromRGB/bias": (nf(R),)}
    r = R
    while r > 4:
        out.update({f"{r}x{r}/Conv0/weight": (3, 3, nf(r), nf(r)), f"{r}x{r}/Conv0/bias": (nf(r),),
                    f"{r}x{r}/Conv1_down/weight": (3, 3, nf(r), nf(r // 2)), f"{r}x{r}/Conv1_down/bias": (nf(r // 2),),
                    f"{r}x{r}/Skip/weight": (1, 1, nf(r), nf(r // 2))})
        r //= 2
    out.update({"4x4/Conv/weight": (3, 3, 513, 512), "4x4/Conv/bias": (512,), "4x4/Dense0/weight": (8192, 512),
                "4x4/Dense0/bias": (512,), "Output/weight": (512, 1), "Output/bias": (1,)})
    return out


# ----------------------------------------------------------------------------------------------------------------
# rosinality


def _blur(scale: float) -> torch.Tensor:
    k = torch.tensor([1.0, 3.0, 3.0, 1.0])
    k = torch.outer(k, k)
    return k / k.sum() * scale


def rosinality_g_state(G: Generator) -> dict[str, torch.Tensor]:
    """The state dict rosinality's Generator(size, style_dim, n_mlp) would hold for these weights."""
    sd = {k: v.detach().clone() for k, v in G.state_dict().items()}
    c = G.cfg
    out = {}
    for i in range(c.mapping_layers):
        out[f"style.{i + 1}.weight"] = sd[f"mapping.fc{i}.weight"]
        out[f"style.{i + 1}.bias"] = sd[f"mapping.fc{i}.bias"]
    out["input.input"] = sd["synthesis.b4.const"][None]

    def styled(ros, ours, noise_i, up):
        out[f"{ros}.conv.weight"] = sd[f"{ours}.weight"][None]
        out[f"{ros}.conv.modulation.weight"] = sd[f"{ours}.affine.weight"]
        out[f"{ros}.conv.modulation.bias"] = sd[f"{ours}.affine.bias"]
        if up:
            out[f"{ros}.conv.blur.kernel"] = _blur(4.0)
        out[f"{ros}.noise.weight"] = sd[f"{ours}.noise_strength"].reshape(1)
        out[f"{ros}.activate.bias"] = sd[f"{ours}.bias"]
        out[f"noises.noise_{noise_i}"] = sd[f"{ours}.noise_const"][None, None]

    def torgb(ros, ours, up):
        if up:
            out[f"{ros}.upsample.kernel"] = _blur(4.0)
        out[f"{ros}.conv.weight"] = sd[f"{ours}.weight"][None]
        out[f"{ros}.conv.modulation.weight"] = sd[f"{ours}.affine.weight"]
        out[f"{ros}.conv.modulation.bias"] = sd[f"{ours}.affine.bias"]
        out[f"{ros}.bias"] = sd[f"{ours}.bias"].reshape(1, -1, 1, 1)

    styled("conv1", "synthesis.b4.conv1", 0, False)
    torgb("to_rgb1", "synthesis.b4.torgb", False)
    for j, r in enumerate(c.block_resolutions[1:]):
        styled(f"convs.{2 * j}", f"synthesis.b{r}.conv0", 2 * j + 1, True)
        styled(f"convs.{2 * j + 1}", f"synthesis.b{r}.conv1", 2 * j + 2, False)
        torgb(f"to_rgbs.{j}", f"synthesis.b{r}.torgb", True)
    return out


def rosinality_d_state(D: Discriminator) -> dict[str, torch.Tensor]:
    sd = {k: v.detach().clone() for k, v in D.state_dict().items()}
    R = D.cfg.resolution
    out = {"convs.0.0.weight": sd[f"b{R}.fromrgb.weight"], "convs.0.1.bias": sd[f"b{R}.fromrgb.bias"]}
    r, i = R, 1
    while r > 4:
        out.update({f"convs.{i}.conv1.0.weight": sd[f"b{r}.conv0.weight"],
                    f"convs.{i}.conv1.1.bias": sd[f"b{r}.conv0.bias"],
                    f"convs.{i}.conv2.0.kernel": _blur(1.0),
                    f"convs.{i}.conv2.1.weight": sd[f"b{r}.conv1.weight"],
                    f"convs.{i}.conv2.2.bias": sd[f"b{r}.conv1.bias"],
                    f"convs.{i}.skip.0.kernel": _blur(1.0),
                    f"convs.{i}.skip.1.weight": sd[f"b{r}.skip.weight"]})
        r, i = r // 2, i + 1
    out.update({"final_conv.0.weight": sd["b4.conv.weight"], "final_conv.1.bias": sd["b4.conv.bias"],
                "final_linear.0.weight": sd["b4.fc.weight"], "final_linear.0.bias": sd["b4.fc.bias"],
                "final_linear.1.weight": sd["b4.out.weight"], "final_linear.1.bias": sd["b4.out.bias"]})
    return out


def write_rosinality_pt(path, G_ema: Generator, G: Generator | None = None, D: Discriminator | None = None) -> None:
    ckpt = {"g_ema": rosinality_g_state(G_ema), "latent_avg": G_ema.mapping.w_avg.detach().clone()}
    if G is not None:
        ckpt["g"] = rosinality_g_state(G)
    if D is not None:
        ckpt["d"] = rosinality_d_state(D)
    torch.save(ckpt, path)


def rosinality_config_f_shapes(size: int = 1024, n_mlp: int = 8) -> dict[str, tuple[int, ...]]:
    """Names and shapes of rosinality's Generator(size, 512, n_mlp, channel_multiplier=2) state dict."""
    ch = {4: 512, 8: 512, 16: 512, 32: 512, 64: 512, 128: 256, 256: 128, 512: 64, 1024: 32}
    out = {}
    for i in range(1, n_mlp + 1):
        out[f"style.{i}.weight"] = (512, 512)
        out[f"style.{i}.bias"] = (512,)
    out["input.input"] = (1, 512, 4, 4)

    def styled(p, cin, cout, up):
        out.update({f"{p}.conv.weight": (1, cout, cin, 3, 3), f"{p}.conv.modulation.weight": (cin, 512),
                    f"{p}.conv.modulation.bias": (cin,), f"{p}.noise.weight": (1,), f"{p}.activate.bias": (cout,)})
        if up:
            out[f"{p}.conv.blur.kernel"] = (4, 4)

    def torgb(p, cin, up):
        out.update({f"{p}.conv.weight": (1, 3, cin, 1, 1), f"{p}.conv.modulation.weight": (cin, 512),
                    f"{p}.conv.modulation.bias": (cin,), f"{p}.bias": (1, 3, 1, 1)})
        if up:
            out[f"{p}.upsample.kernel"] = (4, 4)

    styled("conv1", 512, 512, False)
    torgb("to_rgb1", 512, False)
    log2 = int(math.log2(size))
    for layer in range((log2 - 2) * 2 + 1):
        r = 2 ** ((layer + 5) // 2)
        out[f"noises.noise_{layer}"] = (1, 1, r, r)
    cin = 512
    for j, k in enumerate(range(3, log2 + 1)):
        cout = ch[2 ** k]
        styled(f"convs.{2 * j}", cin, cout, True)
        styled(f"convs.{2 * j + 1}", cout, cout, False)
        torgb(f"to_rgbs.{j}", cout, True)
        cin = cout
    return out
