"""``elasticjobs sqsd``: a local stand-in for Elastic Beanstalk's SQS daemon (``aws-sqsd``).

The daemon and cron.yaml parts need the ``local`` extra (croniter, PyYAML), which the
rest of pyramid_elasticjobs never imports. They load on first use, so that the options
(standard library only) can describe themselves in ``elasticjobs --help`` without them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .options import DaemonOptions, options_from_settings
from .stats import DaemonStats

if TYPE_CHECKING:
    from .cron import PeriodicTask, load_cron, parse_cron
    from .daemon import SqsDaemon

__all__ = [
    "DaemonOptions",
    "DaemonStats",
    "PeriodicTask",
    "SqsDaemon",
    "load_cron",
    "options_from_settings",
    "parse_cron",
]

_LAZY = {"SqsDaemon": "daemon", "PeriodicTask": "cron", "load_cron": "cron", "parse_cron": "cron"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
