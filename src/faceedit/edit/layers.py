"""Names for w+ layer ranges and StyleSpace channels.

w+ layer groups (StyleGAN's convention, by the resolution a w+ entry drives; w+ index ``i`` feeds the
convolutions at about ``2**(i // 2 + 2)`` px):

=========  ============  ==========  ==========  ==========  ===========
group      resolutions   64 px (10)  128 (12)    256 (14)    1024 (18)
=========  ============  ==========  ==========  ==========  ===========
coarse     4²–8²         0-3         0-3         0-3         0-3
middle     16²–32²       4-7         4-7         4-7         4-7
fine       64² and up    8-9         8-11        8-13        8-17
=========  ============  ==========  ==========  ==========  ===========

Generators smaller than 64 px (fewer than 10 w+ entries) have no 64² layers; there the three groups split the
entries in the same 4 : 4 : 10 proportions as at 1024 px (32 px, 8 entries: coarse 0-1, middle 2-3, fine 4-7).
Explicit ranges are accepted too: ``"a-b"`` (inclusive), ``"a"``, ``"a-"`` (to the end) and comma lists
(``"0-3,8-"``); group names and ranges can be mixed (``"coarse,10"``).

StyleSpace channel ids are ``layer:channel`` where ``layer`` indexes :attr:`Model.style_layers`, i.e. *all*
modulated layers ToRGB included, in StyleSpace's order (4×4: conv, torgb; then per resolution conv_up, conv,
torgb — 26 layers at 1024 px). This is the convention of the StyleSpace paper's channel ids and its code
(betterze/StyleSpace ``manipulate.py`` indexes the full list of style tensors, ToRGB included), so the published
FFHQ-1024 channels apply unchanged: 6:501 (smile) is ``b16.conv1`` channel 501, 9:6 (gender) is ``b32.conv1``
channel 6, 15:45 (lipstick) is ``b128.conv1`` channel 45. A layer may also be given by name (``b16.conv1:501``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from faceedit.errors import FaceEditError

LAYER_GROUPS = ("coarse", "middle", "fine")


def group_range(name: str, num_ws: int) -> range:
    """The w+ indices of a named group (``coarse``, ``middle``, ``fine``; also ``all``) for ``num_ws`` entries."""
    name = name.strip().lower()
    if name == "all":
        return range(num_ws)
    if name not in LAYER_GROUPS:
        raise FaceEditError(f"unknown layer group {name!r}: use coarse, middle, fine, all or a range like 4-7")
    if num_ws >= 10:
        bounds = {"coarse": (0, 4), "middle": (4, 8), "fine": (8, num_ws)}
    else:
        a = max(1, round(num_ws * 4 / 18))
        b = max(a + 1, round(num_ws * 8 / 18))
        bounds = {"coarse": (0, a), "middle": (a, b), "fine": (b, num_ws)}
    lo, hi = bounds[name]
    return range(lo, hi)


def parse_layers(spec: str | int | list[int] | range, num_ws: int) -> list[int]:
    """Parse a layer selection into sorted w+ indices: group names, ``a-b``, ``a-``, ``a`` and comma lists.
    Every index is checked against ``num_ws`` before a range is expanded (``0-999999999`` is refused at once)."""
    from faceedit.limits import check_text, parse_int_ranges

    if isinstance(spec, int):
        spec = [spec]
    if isinstance(spec, range):
        if len(spec) and not (0 <= spec.start < num_ws and 0 <= spec[-1] < num_ws):
            raise FaceEditError(f"layers {spec.start}-{spec[-1]} are out of range: this model has w+ layers "
                                f"0-{num_ws - 1}")
        spec = list(spec)
    if isinstance(spec, (list, tuple)):
        if len(spec) > num_ws * 4:
            raise FaceEditError(f"too many layers ({len(spec)}): this model has {num_ws} w+ layers")
        out = sorted({int(i) for i in spec})
    else:
        text = check_text(str(spec), "layer selection", 1000)
        out_set: set[int] = set()
        for part in text.replace(" ", "").split(","):
            if not part:
                continue
            if part.lower() in LAYER_GROUPS + ("all",):
                out_set.update(group_range(part, num_ws))
                continue
            if not re.fullmatch(r"[0-9]{1,9}(?:-[0-9]{0,9})?", part):
                raise FaceEditError(f"bad layer range {part!r}: use coarse, middle, fine, all, 'a-b', 'a-' or 'a'")
            try:
                out_set.update(parse_int_ranges(part, "layer range", 0, num_ws - 1, num_ws, open_end=num_ws - 1))
            except FaceEditError as exc:
                if "out of range" in str(exc):
                    raise FaceEditError(f"layer range {part!r} is out of range: this model has w+ layers "
                                        f"0-{num_ws - 1}") from None
                raise FaceEditError(f"bad layer range {part!r}: the end is before the start" if "ends before" in
                                    str(exc) else str(exc)) from None
        out = sorted(out_set)
    if not out:
        raise FaceEditError(f"layer selection {spec!r} is empty")
    bad = [i for i in out if not 0 <= i < num_ws]
    if bad:
        raise FaceEditError(f"layer {bad[0]} is out of range: this model has w+ layers 0-{num_ws - 1}")
    return out


@dataclass(frozen=True)
class ChannelId:
    """One StyleSpace channel: ``layer`` indexes ``model.style_layers`` (ToRGB included), ``channel`` within it."""

    layer: int
    channel: int

    def __str__(self) -> str:
        return f"{self.layer}:{self.channel}"


def parse_channel(spec: str, style_layers: list[tuple[str, int]]) -> ChannelId:
    """``"6:501"`` or ``"b16.conv1:501"`` → :class:`ChannelId`, checked against the model's layers."""
    text = str(spec).strip()
    if len(text) > 200:
        raise FaceEditError(f"bad channel {text[:40]!r}…: too long")
    if ":" not in text:
        raise FaceEditError(f"bad channel {spec!r}: use layer:channel, e.g. 6:501 (layer counts ToRGB layers too)")
    layer_s, chan_s = text.rsplit(":", 1)
    names = [n for n, _ in style_layers]
    if re.fullmatch(r"[0-9]{1,9}", layer_s):
        layer = int(layer_s)
    elif layer_s in names:
        layer = names.index(layer_s)
    else:
        raise FaceEditError(f"bad channel {spec!r}: layer must be a number 0-{len(names) - 1} or a name like "
                            f"{names[min(6, len(names) - 1)]}")
    if not 0 <= layer < len(names):
        raise FaceEditError(f"channel {spec}: this model has StyleSpace layers 0-{len(names) - 1} "
                            f"(published 1024-px ids need a 1024-px model with 26 layers)")
    if not re.fullmatch(r"[0-9]{1,9}", chan_s):
        raise FaceEditError(f"bad channel {spec!r}: the channel must be a number")
    channel = int(chan_s)
    n_ch = style_layers[layer][1]
    if not 0 <= channel < n_ch:
        raise FaceEditError(f"channel {spec}: layer {layer} ({names[layer]}) has channels 0-{n_ch - 1}")
    return ChannelId(layer, channel)


def is_torgb(style_layers: list[tuple[str, int]], layer: int) -> bool:
    return style_layers[layer][0].endswith("torgb")


def w_index_of_style_layer(style_layers: list[tuple[str, int]], layer: int) -> int:
    """The w+ entry that feeds StyleSpace layer ``layer`` (a ToRGB shares the next conv's entry)."""
    w = 0
    for i, (name, _) in enumerate(style_layers):
        if i == layer:
            return w
        if not name.endswith("torgb"):
            w += 1
    raise IndexError(layer)
