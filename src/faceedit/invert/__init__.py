"""Photos into the generator's latent space: optimisation, an e4e-style encoder, or both.

    from faceedit.invert import invert_photo, invert_images
    inv = invert_photo("me.jpg", model)                 # aligns, inverts (default "hybrid" when possible)
    inv.ws                                              # w+ [1, num_ws, w_dim]
    inv.aligned, inv.original, inv.reconstruction       # AlignedFace, photo uint8, reconstruction uint8
    photo = inv.paste(model.synthesize(edited_ws))      # the edited face back in the photo (feathered)

Methods (one table, :data:`~faceedit.invert.methods.METHODS`): ``"optimize"`` (Image2StyleGAN-style optimisation
from w_avg, :mod:`faceedit.invert.optimize`), ``"encoder"`` (one pass of the encoder,
:mod:`faceedit.invert.encoder`), ``"hybrid"`` (the encoder's guess refined by a short optimisation),
``"pivotal"`` (the encoder's guess as the pivot, then a short pivotal tuning of the synthesis weights for each
photo, :mod:`faceedit.invert.pivotal`; the result carries the tuned weights in ``.tuned``). Hybrid and pivotal
need the shipped encoder (``assets/encoder.safetensors``) trained for this generator; otherwise hybrid runs as
optimisation and pivotal takes an optimised pivot, with a note saying why. To edit an inverted photo, turn it into
a :class:`~faceedit.face.Face` (:func:`faceedit.face.face_from_photo`).

The names below load their module on first use: the command line reads the method table
(:mod:`faceedit.invert.methods`) for its help text without loading torch.
"""

#: Public names and the module of this package that defines each.
_NAMES = {
    "DEFAULT_METHOD": "methods", "METHODS": "methods", "Method": "methods", "methods_help": "methods",
    "PHOTO_METHOD": "methods",
    "DEFAULT_ENCODER": "encoder", "Encoder": "encoder", "EncoderConfig": "encoder", "default_encoder": "encoder",
    "load_encoder": "encoder", "save_encoder": "encoder",
    "OptimizeConfig": "optimize", "optimize_latents": "optimize", "synthesize": "optimize",
    "TuneConfig": "pivotal", "TunedSynthesis": "pivotal",
    "Inversion": "photos", "InvertedPhoto": "photos", "aligned_as_face": "photos", "evaluate_methods": "photos",
    "get_perceptual": "photos", "invert_images": "photos", "invert_photo": "photos", "prepare_photo": "photos",
}
__all__ = sorted(_NAMES)


def __getattr__(name):
    if name in _NAMES:
        import importlib

        return getattr(importlib.import_module(f"faceedit.invert.{_NAMES[name]}"), name)
    raise AttributeError(name)
