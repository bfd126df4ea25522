"""Train stage: TrainConfig and one trainer per kind of model. Examples in, model directory
out; no database."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from modelmint.errors import InvalidInput
from modelmint.modeling import EmbeddingCache
from modelmint.train.config import TrainConfig
from modelmint.train.head import Progress, train_text_classifier
from modelmint.types import Example, TrainResult

TEXT_TASKS = ("text-classification", "multi-label", "text-regression")


def train_model(
    examples: list[Example],
    task: str,
    config: TrainConfig,
    out_dir: Path,
    *,
    cache: EmbeddingCache | None = None,
    progress: Progress | None = None,
    metadata: dict[str, Any] | None = None,
    image_root: Path | None = None,
    checkpoint: Path | None = None,
) -> TrainResult:
    """Train the right kind of model for `task` with `config` and write it to `out_dir`."""
    if task == "faq":
        from modelmint.train.retrieval import train_faq

        return train_faq(
            examples,
            config,
            out_dir,
            cache=cache,
            progress=progress,
            metadata=metadata,
            checkpoint=checkpoint,
        )
    if config.method != "head" and task != "text-classification":
        raise InvalidInput(
            f"--method {config.method} fine-tunes a text classifier; task {task} trains with "
            "--method head"
        )
    if config.dp_epsilon is not None and (task != "text-classification" or config.method != "head"):
        raise InvalidInput(
            "--dp-epsilon trains the head of a text classifier with DP-SGD; use it with "
            "--method head on a text-classification dataset"
        )
    if task in TEXT_TASKS:
        if config.method in ("lora", "full"):
            from modelmint.train.finetune import finetune_text

            return finetune_text(
                examples,
                config,
                out_dir,
                progress=progress,
                metadata=metadata,
                checkpoint=checkpoint,
            )
        return train_text_classifier(
            examples, config, out_dir, cache=cache, progress=progress, metadata=metadata, task=task
        )
    if task in ("tabular-classification", "tabular-regression"):
        from modelmint.train.tabular import train_tabular

        return train_tabular(
            examples, config, out_dir, task=task, progress=progress, metadata=metadata
        )
    if task == "token-classification":
        from modelmint.train.tokens import train_tokens

        return train_tokens(examples, config, out_dir, progress=progress, metadata=metadata)
    if task == "image-classification":
        from modelmint.train.vision import train_images

        if image_root is None:
            raise InvalidInput("image training needs the dataset's image folder")
        return train_images(
            examples,
            config,
            out_dir,
            image_root=image_root,
            progress=progress,
            metadata=metadata,
            checkpoint=checkpoint,
        )
    raise InvalidInput(f"task {task} cannot be trained")


__all__ = ["TEXT_TASKS", "TrainConfig", "train_model", "train_text_classifier"]
