"""Pretrained encoders, the embedding cache, and the model directory (safetensors + JSON)."""

from modelmint.modeling.cache import EmbeddingCache, embed_with_cache
from modelmint.modeling.encoders import (
    DEFAULT_ENCODER,
    E5_SMALL,
    MINILM,
    canonical_name,
    get_encoder,
)
from modelmint.modeling.model_dir import LoadedModel, load_model_dir, save_model_dir, verify

__all__ = [
    "DEFAULT_ENCODER",
    "E5_SMALL",
    "MINILM",
    "EmbeddingCache",
    "LoadedModel",
    "canonical_name",
    "embed_with_cache",
    "get_encoder",
    "load_model_dir",
    "save_model_dir",
    "verify",
]
