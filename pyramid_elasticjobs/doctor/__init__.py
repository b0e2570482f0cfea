"""``elasticjobs doctor``'s checks: what would go wrong on Elastic Beanstalk, found before deploy.

Each check returns :class:`~.findings.Finding` lines (OK, WARN or FAIL, each with the
fix). :mod:`.local` reads only the ini file, the environment and the loaded
application; :mod:`.aws` asks SQS, with calls that change nothing.
"""

from __future__ import annotations

from .findings import Finding, Report, Status

__all__ = ["Finding", "Report", "Status"]
