"""The workspace every command opens: settings, the migrated store and the embedding cache."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass

from modelmint.modeling import EmbeddingCache
from modelmint.settings import Settings
from modelmint.store import Store, store_for

logger = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]
"""A progress callback: ``progress(stage, done, total)``."""


@dataclass
class Workspace:
    """Everything a command needs: settings, the migrated store and the embedding cache."""

    settings: Settings
    store: Store
    cache: EmbeddingCache

    @classmethod
    def open(cls, settings: Settings) -> Workspace:
        # private: the database, datasets and models hold customers' data (0700; the SQLite
        # file is created 0600 by the store). Folders that exist keep their mode, with a warning.
        for folder in (settings.home, settings.datasets_dir, settings.models_dir):
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        if os.name == "posix" and settings.home.stat().st_mode & 0o077:
            logger.warning(
                "MODELMINT_HOME %s is readable by other users; run `chmod 700 %s`",
                settings.home,
                settings.home,
            )
        store = store_for(settings)
        return cls(settings, store, EmbeddingCache(settings.cache_dir / "embeddings.sqlite"))

    def close(self) -> None:
        self.store.close()
