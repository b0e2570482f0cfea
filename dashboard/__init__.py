"""The operator's dashboard: jobs and failures from the audit log, dead letters from SQS.

``config.include("pyramid_elasticjobs.dashboard")`` mounts it at
``elasticjobs.dashboard.path`` (``/elasticjobs``). It needs the audit log, a security
policy (or ``elasticjobs.dashboard.allow_anonymous = true`` in development) and, unless
read-only, a CSRF storage policy for its POST actions. Installed as
``pyramid_elasticjobs.dashboard`` from the repository's top-level ``dashboard/`` folder.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from pyramid.config import PHASE3_CONFIG
from pyramid.events import NewResponse

from .rendering import create_environment
from .security import ROUTE_PREFIX, check_security, security_headers_subscriber
from .settings import DashboardSettings, parse_dashboard_settings

if TYPE_CHECKING:
    from pyramid.config import Configurator

__all__ = ["DashboardContext", "DashboardSettings", "includeme"]

CONTEXT_KEY = "elasticjobs.dashboard.context"
TEMPLATES_KEY = "elasticjobs.dashboard.templates"

#: (route name, path under the mount point); the views attach to these names.
ROUTES = (
    ("overview", "/"),
    ("jobs", "/jobs"),
    ("job", "/jobs/{job_id}"),
    ("enqueue_again", "/jobs/{job_id}/enqueue-again"),
    ("failures", "/failures"),
    ("failures_action", "/failures/{action}"),
    ("dead_letters", "/dead-letters"),
    ("dead_letter_queue", "/dead-letters/{queue}"),
    ("dead_letter_action", "/dead-letters/{queue}/{action}"),
    ("health", "/health"),
    ("live", "/live.json"),
)


@dataclass(frozen=True, slots=True)
class DashboardContext:
    """What every page knows about the dashboard itself."""

    settings: DashboardSettings
    anonymous: bool  # no security policy: anyone who can reach the pages can use them

    @property
    def can_act(self) -> bool:
        return not self.settings.read_only


def includeme(config: Configurator) -> None:
    """Mount the dashboard; settings are read now (routes need the path), checks at commit."""
    config.include("pyramid_elasticjobs")
    config.include("pyramid_elasticjobs.audit")
    settings = parse_dashboard_settings(config.get_settings())
    for name, pattern in ROUTES:
        path = settings.path + pattern if pattern != "/" else settings.path + "/"
        config.add_route(ROUTE_PREFIX + name, path)
    static_name = settings.path.lstrip("/") + "/static"
    config.add_static_view(static_name, "pyramid_elasticjobs.dashboard:static", cache_max_age=3600)
    config.add_subscriber(security_headers_subscriber("__" + static_name), NewResponse)
    config.registry[TEMPLATES_KEY] = create_environment()
    from .views import add_views

    add_views(config, settings)

    def check() -> None:
        anonymous = check_security(config.registry, settings)
        config.registry[CONTEXT_KEY] = DashboardContext(settings, anonymous)

    # After the application's security policy, session factory and CSRF policy (PHASE2).
    config.action("elasticjobs.dashboard.security", check, order=PHASE3_CONFIG)
