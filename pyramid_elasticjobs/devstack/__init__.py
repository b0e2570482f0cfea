"""The local stack behind ``elasticjobs dev``: embedded SQS, the app, and the daemons.

Needs the ``local`` extra (moto, waitress, croniter, PyYAML); the rest of
pyramid_elasticjobs never imports it.
"""

from __future__ import annotations

from .queues import ProvisionedQueue, app_queues, dead_letter_queue_name, provision_queues
from .stack import DevStack

__all__ = [
    "DevStack",
    "ProvisionedQueue",
    "app_queues",
    "dead_letter_queue_name",
    "provision_queues",
]
