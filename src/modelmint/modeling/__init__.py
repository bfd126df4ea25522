"""Pretrained encoders, the embedding cache, and the model directory (safetensors + JSON), with
one loaded-model interface for every kind of model."""

from modelmint.modeling.base import CLASSIFICATION, REGRESSION, Model
from modelmint.modeling.cache import EmbeddingCache, embed_with_cache
from modelmint.modeling.encoders import (
    DEFAULT_ENCODER,
    E5_SMALL,
    MINILM,
    canonical_name,
    get_encoder,
)
from modelmint.modeling.model_dir import load_model_dir, save_model_dir, verify

LoadedModel = Model  # the walking skeleton's name

__all__ = [
    "CLASSIFICATION",
    "DEFAULT_ENCODER",
    "E5_SMALL",
    "MINILM",
    "REGRESSION",
    "EmbeddingCache",
    "LoadedModel",
    "Model",
    "canonical_name",
    "embed_with_cache",
    "get_encoder",
    "load_model_dir",
    "save_model_dir",
    "verify",
]
