"""Pretrained face scorers usable as differentiable losses.

:func:`load_faceapi` loads the face-api.js networks (expressions, age/gender, 68 landmarks, dlib-compatible
identity descriptor) ported to PyTorch; their weights are fetched once with ``faceedit scorers fetch-faceapi``
(needs npm). See :mod:`faceedit.scorers.faceapi`.
"""

from faceedit.scorers.faceapi import EXPRESSIONS, SAME_PERSON_THRESHOLD, AgeGender, FFHQ_FACE_BOX, FaceApi, load_faceapi
from faceedit.scorers.fetch import fetch_faceapi, have_weights

__all__ = ["EXPRESSIONS", "FFHQ_FACE_BOX", "SAME_PERSON_THRESHOLD", "AgeGender", "FaceApi", "fetch_faceapi", "have_weights",
           "load_faceapi"]

# The project's own CelebA attribute classifier and CelebAMask-HQ face parser (see classifier.py, parser.py).
from faceedit.scorers.classifier import CELEBA_ATTRIBUTES, AttributeClassifier, load_classifier  # noqa: E402
from faceedit.scorers.parser import CLASSES, REGIONS, FaceParser, load_parser  # noqa: E402

__all__ += ["AttributeClassifier", "CELEBA_ATTRIBUTES", "CLASSES", "FaceParser", "REGIONS", "load_classifier",
            "load_parser"]
