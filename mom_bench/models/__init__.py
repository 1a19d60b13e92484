"""Detectors of AI-generated music: one registry (:mod:`mom_bench.models.registry`), one contract
(:class:`mom_bench.models.base.Detector`), and the feature cache of frozen encoders
(:mod:`mom_bench.models.cache`).

Importing this package is cheap; the model classes are imported when a model is built.
"""
from mom_bench.models.registry import ModelSpec, UnknownModelError, create, list_models, load, resolve

__all__ = ["ModelSpec", "UnknownModelError", "create", "list_models", "load", "resolve"]
