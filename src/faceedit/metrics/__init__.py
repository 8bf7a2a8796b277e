"""Scores for any stage: image distances (:mod:`faceedit.metrics.distances`: identity, perceptual, pixel)."""
