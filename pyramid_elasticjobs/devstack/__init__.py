"""The local stack behind ``elasticjobs dev``: embedded SQS, the app, and the daemons.

Needs the ``local`` extra (moto, waitress, croniter, PyYAML); the rest of
pyramid_elasticjobs never imports it. The names below load their modules on first
use, so that the command line can read the light modules (``hosts``) without it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .queues import ProvisionedQueue, app_queues, dead_letter_queue_name, provision_queues
    from .stack import DevStack

#: Public name -> the module of this package that defines it.
_MODULES = {
    "DevStack": "stack",
    "ProvisionedQueue": "queues",
    "app_queues": "queues",
    "dead_letter_queue_name": "queues",
    "provision_queues": "queues",
}

__all__ = [
    "DevStack",
    "ProvisionedQueue",
    "app_queues",
    "dead_letter_queue_name",
    "provision_queues",
]


def __getattr__(name: str) -> Any:
    if name not in _MODULES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_MODULES[name]}", __name__), name)
