"""Registry stage: name:version models, aliases, lineage, promotion and rollback."""

from modelmint.registry.core import (
    ALIASES,
    get,
    list_models,
    load,
    parse_ref,
    promote,
    register,
    rollback,
)

__all__ = ["ALIASES", "get", "list_models", "load", "parse_ref", "promote", "register", "rollback"]
