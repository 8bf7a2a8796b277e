"""Pretrained face scorers usable as differentiable losses.

:func:`load_faceapi` loads the face-api.js networks (expressions, age/gender, 68 landmarks, dlib-compatible
identity descriptor) ported to PyTorch; their weights are fetched once with ``faceedit scorers fetch-faceapi``
(needs npm). See :mod:`faceedit.scorers.faceapi`.
"""

from faceedit.scorers.faceapi import EXPRESSIONS, SAME_PERSON_THRESHOLD, AgeGender, FaceApi, load_faceapi
from faceedit.scorers.fetch import fetch_faceapi, have_weights

__all__ = ["EXPRESSIONS", "SAME_PERSON_THRESHOLD", "AgeGender", "FaceApi", "fetch_faceapi", "have_weights",
           "load_faceapi"]
