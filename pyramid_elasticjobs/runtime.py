"""The per-application objects every part shares, built once from the settings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .exceptions import ConfigurationError
from .jobs import JobRegistry
from .signing import Signer
from .transport import SQSTransport

if TYPE_CHECKING:
    from pyramid.registry import Registry

    from .settings import ElasticJobsSettings

RUNTIME_KEY = "elasticjobs.runtime"


@dataclass(frozen=True, slots=True)
class Runtime:
    settings: ElasticJobsSettings
    signer: Signer
    transport: SQSTransport
    jobs: JobRegistry

    @classmethod
    def create(cls, settings: ElasticJobsSettings, jobs: JobRegistry) -> Runtime:
        return cls(settings, Signer(settings.secrets), SQSTransport(settings), jobs)


def get_runtime(registry: Registry) -> Runtime:
    runtime: Runtime | None = registry.get(RUNTIME_KEY)
    if runtime is None:
        raise ConfigurationError(
            "pyramid_elasticjobs is not configured in this application: call "
            "config.include('pyramid_elasticjobs') and commit the configuration first"
        )
    return runtime
