"""Editing operations on w+ and StyleSpace: style mixing, crossover, expression transfer, morphing,
StyleSpace channel search and edits, local (region-only) feature edits and Attribute Dependency.

    import faceedit
    from faceedit import edit
    m = faceedit.load()
    a, b = faceedit.resolve_face("seed:1", m).ws, faceedit.resolve_face("seed:2", m).ws
    mixed = edit.mix(a, b, "fine")                      # a's coarse/middle w+ entries, b's fine ones
    frames = edit.morph_latents(m, a, b, steps=30)      # w+ per frame; edit.morph_frames renders them
    stats = edit.style_stats(m)                         # StyleSpace σ per channel
    imgs = edit.edit_images(m, a, edit.StyleDirection.single(edit.parse_channel("6:501", m.style_layers)),
                            [-5, 0, 5], stats)
"""

from faceedit.edit.ad import (ADResult, ad_table, attribute_dependency, channel_edit, compare_edits,
                              load_w_direction, w_direction_edit)
from faceedit.edit.layers import ChannelId, group_range, parse_channel, parse_layers, w_index_of_style_layer
from faceedit.edit.local import (LocalChannels, change_share, diff_heatmap, local_edit, random_channels,
                                 score_local_channels)
from faceedit.edit.mixing import crossover, expression_transfer, mix, mixing_grid
from faceedit.edit.morph import lerp, morph_frames, morph_latents, slerp
from faceedit.edit.scoring import REGIONS, load_mask
from faceedit.edit.stylespace import (ChannelSearch, StyleDirection, StyleStats, apply_direction, edit_images,
                                      RegionSensitivity, find_channels_attribute, find_channels_region, preview_sheet,
                                      region_masks, region_sensitivity,
                                      segment_region, style_stats)

__all__ = [
    "ADResult", "ChannelId", "ChannelSearch", "LocalChannels", "REGIONS", "StyleDirection", "StyleStats",
    "ad_table", "apply_direction", "attribute_dependency", "change_share", "channel_edit", "compare_edits",
    "crossover", "diff_heatmap", "edit_images", "expression_transfer", "find_channels_attribute",
    "find_channels_region", "group_range", "lerp", "load_mask", "load_w_direction", "local_edit", "mix",
    "mixing_grid", "morph_frames", "morph_latents", "parse_channel", "parse_layers", "preview_sheet",
    "RegionSensitivity", "random_channels", "region_masks", "region_sensitivity",
    "score_local_channels", "segment_region", "slerp",
    "style_stats", "w_direction_edit", "w_index_of_style_layer",
]
