"""One line per finding: its status, what was checked, and what to do."""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass, field


class Status(enum.StrEnum):
    OK = "OK"
    WARN = "WARN"  # works, but probably not as meant: read the line
    FAIL = "FAIL"  # jobs will be refused, lost or never run until it is fixed


@dataclass(frozen=True, slots=True)
class Finding:
    status: Status
    check: str  # what was looked at: "secret", "queue images", ...
    message: str  # what was found, and the fix

    def to_dict(self) -> dict[str, str]:
        return {"status": self.status.value, "check": self.check, "message": self.message}


def ok(check: str, message: str) -> Finding:
    return Finding(Status.OK, check, message)


def warn(check: str, message: str) -> Finding:
    return Finding(Status.WARN, check, message)


def fail(check: str, message: str) -> Finding:
    return Finding(Status.FAIL, check, message)


@dataclass(slots=True)
class Report:
    findings: list[Finding] = field(default_factory=list)

    def extend(self, findings: list[Finding]) -> None:
        self.findings.extend(findings)

    @property
    def failed(self) -> bool:
        return any(finding.status is Status.FAIL for finding in self.findings)

    def counts(self) -> dict[str, int]:
        return {
            status.value: sum(finding.status is status for finding in self.findings)
            for status in Status
        }

    def table(self) -> str:
        """Aligned columns for people; a message never wraps, so grep finds whole lines."""
        width = max((len(finding.check) for finding in self.findings), default=0)
        lines = [
            f"{finding.status.value:<4}  {finding.check:<{width}}  {finding.message}"
            for finding in self.findings
        ]
        counts = self.counts()
        lines.append(f"{counts['OK']} ok, {counts['WARN']} warning(s), {counts['FAIL']} failure(s)")
        return "\n".join(lines)

    def to_json(self) -> str:
        document = {
            "ok": not self.failed,
            "counts": self.counts(),
            "findings": [finding.to_dict() for finding in self.findings],
        }
        return json.dumps(document, indent=2)
