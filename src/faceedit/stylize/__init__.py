"""Neural style transfer for faces and any photo: Gatys optimisation and Johnson feed-forward networks.

    from faceedit.stylize import list_styles, load_style, stylize_fast
    list_styles()                               # the shipped networks: name, title, artist, licence …
    out = stylize_fast(img, "starry_night")     # img: uint8 H×W×3 RGB → uint8 stylised (milliseconds)
    from faceedit.stylize import stylize_image
    out = stylize_image(img, painting, method="gatys", size=512)   # optimisation (minutes on a CPU)

Modules: :mod:`losses` (content, style, TV losses shared by both methods), :mod:`gatys` (the optimisation,
coarse to fine), :mod:`johnson` (the transformation network and its file format), :mod:`training` (``faceedit
train style``), :mod:`styles` (the shipped networks), :mod:`pipeline` (one image, colour preservation, masks),
:mod:`color`, :mod:`masks`, :mod:`images`, :mod:`frames` (folders, GIF, MP4, flicker).
"""

from faceedit.stylize.pipeline import Where, stylize_fast, stylize_image
from faceedit.stylize.styles import find_for_style_image, list_styles, load_style

__all__ = ["Where", "find_for_style_image", "list_styles", "load_style", "stylize_fast", "stylize_image"]
