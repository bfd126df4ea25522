"""Registry stage: name:version models, aliases, lineage, promotion and rollback; and the
check at the door of a retrain (``retrain_preflight``), which the server may call."""

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
from modelmint.registry.retrainable import (
    RETRAINABLE_TASKS,
    RetrainPlan,
    queue_retrain,
    require_retrainable,
    retrain_preflight,
)

__all__ = [
    "ALIASES",
    "RETRAINABLE_TASKS",
    "RetrainPlan",
    "get",
    "list_models",
    "load",
    "parse_ref",
    "promote",
    "queue_retrain",
    "register",
    "require_retrainable",
    "retrain_preflight",
    "rollback",
]
