"""Train stage: TrainConfig and trainers. Examples in, model directory out; no database."""

from modelmint.train.config import TrainConfig
from modelmint.train.head import train_text_classifier

__all__ = ["TrainConfig", "train_text_classifier"]
