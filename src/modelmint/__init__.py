"""ModelMint: turn a pretrained model into a paid API that keeps improving itself.

The Python API mirrors the CLI::

    from modelmint import Workspace, load_settings, add_dataset, train_and_register, retrain
    ws = Workspace.open(load_settings(home="./mm"))
    add_dataset(ws.store, ws.settings.datasets_dir, "reviews", Path("reviews.csv"))
    out = train_and_register(ws, "reviews")

Heavy modules load on first use, so ``import modelmint`` stays fast.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "Settings": "modelmint.settings",
    "load_settings": "modelmint.settings",
    "Workspace": "modelmint.pipeline",
    "train_and_register": "modelmint.pipeline",
    "evaluate_ref": "modelmint.pipeline",
    "retrain": "modelmint.pipeline",
    "run_worker": "modelmint.pipeline",
    "add_dataset": "modelmint.data",
    "TrainConfig": "modelmint.train",
    "create_app": "modelmint.serve",
    "ModelMintError": "modelmint.errors",
    "Example": "modelmint.types",
    "Money": "modelmint.types",
}

__all__ = ["__version__", *sorted(_LAZY)]


def __getattr__(name: str) -> Any:
    mod = _LAZY.get(name)
    if mod is None:
        raise AttributeError(f"module 'modelmint' has no attribute {name!r}")
    return getattr(importlib.import_module(mod), name)
