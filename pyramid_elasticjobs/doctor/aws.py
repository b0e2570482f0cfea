"""``doctor --aws``: the queues, as SQS sees them with the credentials at hand.

Every call changes nothing. Read permissions are checked by reading (GetQueueUrl,
GetQueueAttributes). SendMessage, DeleteMessage and ChangeMessageVisibility are
probed with requests SQS must refuse on their parameters (a delay over 900 s and an
unknown attribute type; a receipt handle that matches no message): an
``AccessDenied`` answer means the permission is missing, a validation error means
it is there. ReceiveMessage has no such request: any receive may hide messages and
counts against the redrive policy, so it is reported as not probed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import botocore.exceptions

from pyramid_elasticjobs.exceptions import ConfigurationError
from pyramid_elasticjobs.settings import parse_float, parse_int

from .findings import Finding, fail, ok, warn

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

    from pyramid_elasticjobs.runtime import Runtime

#: aws-sqsd's defaults (the daemon's own module holds them too, but needs PyYAML).
DAEMON_INACTIVITY_TIMEOUT = 299.0
DAEMON_MAX_RETRIES = 10
PROBE_BODY = "elasticjobs doctor permission probe: SQS refuses this request by design"
#: A receipt handle that cannot match any message.
PROBE_RECEIPT_HANDLE = "elasticjobs-doctor-probe-matches-no-message"

_DENIED = frozenset(
    {"AccessDenied", "AccessDeniedException", "AWS.SimpleQueueService.AccessDenied"}
)
_CREDENTIALS = frozenset(
    {
        "InvalidClientTokenId",
        "UnrecognizedClientException",
        "SignatureDoesNotMatch",
        "ExpiredToken",
        "InvalidAccessKeyId",
    }
)
_MISSING = frozenset({"AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"})
_VALIDATION = frozenset(
    {
        "InvalidParameterValue",
        "InvalidParameterValueException",
        "ReceiptHandleIsInvalid",
        "InvalidReceiptHandle",
        "MessageNotInflight",
        "InvalidAttributeValue",
        "InvalidMessageContents",
    }
)


class _Unreachable(Exception):
    """SQS cannot be asked at all (no credentials, no connection): stop asking."""


@dataclass(frozen=True, slots=True)
class DaemonTimeouts:
    """The worker environment's aws-sqsd options that must agree with each queue."""

    inactivity_timeout: float
    max_retries: int

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> DaemonTimeouts:
        return cls(
            parse_float(
                "sqsd.inactivity_timeout",
                settings.get("elasticjobs.sqsd.inactivity_timeout"),
                DAEMON_INACTIVITY_TIMEOUT,
                0.1,
                36000.0,
            ),
            parse_int(
                "sqsd.max_retries",
                settings.get("elasticjobs.sqsd.max_retries"),
                DAEMON_MAX_RETRIES,
                1,
                100,
            ),
        )


def aws_findings(runtime: Runtime, settings: Mapping[str, Any]) -> list[Finding]:
    """One block of findings per queue the application's jobs use."""
    endpoint = runtime.settings.endpoint_url
    if endpoint and urlsplit(endpoint).port == 0:
        return [
            fail(
                "aws",
                f"elasticjobs.endpoint_url = {endpoint} names the embedded SQS that only "
                "`elasticjobs dev` starts; run doctor --aws against a running SQS "
                "(ELASTICJOBS_ENDPOINT_URL=...) or against AWS (endpoint_url unset)",
            )
        ]
    try:
        daemon = DaemonTimeouts.from_settings(settings)
    except ConfigurationError as error:
        return [fail("aws", str(error))]
    client = _client(runtime)
    queues = sorted(
        {runtime.settings.default_queue}
        | {definition.queue for definition in runtime.jobs if definition.queue}
    )
    findings: list[Finding] = []
    try:
        for queue in queues:
            findings += _QueueCheck(client, runtime, queue, daemon).run()
    except _Unreachable as error:
        findings.append(fail("aws", str(error)))
        return findings
    findings.append(
        warn(
            "iam",
            "sqs:ReceiveMessage is not probed (every receive may hide messages and counts "
            "against the redrive policy): check that the worker environment's instance "
            "profile grants it on the worker queue",
        )
    )
    return findings


def _client(runtime: Runtime) -> SQSClient:
    import boto3.session
    import botocore.config

    settings = runtime.settings
    config = botocore.config.Config(
        # Few retries: an unreachable SQS is a finding, not something to wait out.
        retries={"mode": "standard", "total_max_attempts": 2},
        connect_timeout=settings.connect_timeout,
        read_timeout=settings.read_timeout,
    )
    return boto3.session.Session().client(
        "sqs", region_name=settings.aws_region, endpoint_url=settings.endpoint_url, config=config
    )


def _code(error: botocore.exceptions.ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


class _QueueCheck:
    def __init__(
        self, client: SQSClient, runtime: Runtime, queue: str, daemon: DaemonTimeouts
    ) -> None:
        self.client = client
        self.settings = runtime.settings
        self.queue = queue
        self.name = runtime.settings.sqs_queue_name(queue)
        self.daemon = daemon
        self.check = f"queue {queue}"
        self.where = f"{self.name!r} in {runtime.settings.aws_region}"

    def _call(self, operation: str, **parameters: Any) -> dict[str, Any] | str:
        """The response, or the error code SQS answered; raise _Unreachable if it cannot."""
        try:
            response: dict[str, Any] = getattr(self.client, operation)(**parameters)
        except botocore.exceptions.ClientError as error:
            code = _code(error)
            if code in _CREDENTIALS:
                raise _Unreachable(
                    f"SQS refused the credentials ({code}); check AWS_PROFILE, the access "
                    "keys or the instance profile"
                ) from None
            return code
        except botocore.exceptions.NoCredentialsError:
            raise _Unreachable(
                "no AWS credentials found; set AWS_PROFILE or the access keys, or run on an "
                "instance with an instance profile"
            ) from None
        except botocore.exceptions.BotoCoreError as error:
            raise _Unreachable(
                f"cannot reach SQS ({error}); check elasticjobs.endpoint_url, "
                "elasticjobs.aws_region and the network"
            ) from None
        return response

    def run(self) -> list[Finding]:
        found = self._call("get_queue_url", QueueName=self.name)
        if isinstance(found, str) and found in _MISSING:
            return [
                fail(
                    self.check,
                    f"{self.where} does not exist; create it with a dead-letter queue and a "
                    "redrive policy (docs/deployment.md, section 1), or fix "
                    "elasticjobs.queue_prefix / default_queue / the job's queue",
                )
            ]
        if isinstance(found, str) and found in _DENIED:
            return [fail(self.check, f"sqs:GetQueueUrl is denied on {self.where}; grant it")]
        if isinstance(found, str):
            return [fail(self.check, f"GetQueueUrl on {self.where} failed: {found}")]
        url = str(found["QueueUrl"])
        attributes = self._call("get_queue_attributes", QueueUrl=url, AttributeNames=["All"])
        findings = [ok(self.check, f"{self.where} exists")]
        if isinstance(attributes, str):
            findings.append(
                fail(
                    self.check,
                    f"GetQueueAttributes on {self.where} answered {attributes}: its redrive "
                    "policy, retention and timeouts cannot be checked; grant "
                    "sqs:GetQueueAttributes (the worker reads the redrive policy with it)",
                )
            )
        else:
            findings += self._attribute_findings(attributes.get("Attributes", {}))
        findings += self._permission_findings(url)
        return findings

    def _attribute_findings(self, attributes: Mapping[str, str]) -> list[Finding]:
        findings = []
        visibility = int(attributes.get("VisibilityTimeout", "30"))
        inactivity = self.daemon.inactivity_timeout
        if visibility <= inactivity:
            findings.append(
                warn(
                    self.check,
                    f"VisibilityTimeout is {visibility} s, not more than the daemon's "
                    f"InactivityTimeout ({inactivity:g} s): a job still running when its "
                    "message becomes visible again runs twice; raise the queue's (and the "
                    "daemon's) VisibilityTimeout above InactivityTimeout and your slowest job",
                )
            )
        else:
            findings.append(
                ok(
                    self.check,
                    f"VisibilityTimeout {visibility} s > InactivityTimeout {inactivity:g} s",
                )
            )
        size = int(attributes.get("MaximumMessageSize", "262144"))
        if size < self.settings.max_message_bytes:
            findings.append(
                fail(
                    self.check,
                    f"MaximumMessageSize is {size} bytes but elasticjobs.max_message_bytes "
                    f"is {self.settings.max_message_bytes}: larger jobs are refused by SQS; "
                    f"lower the setting to {size} or raise the queue's limit",
                )
            )
        findings += self._redrive_findings(attributes)
        return findings

    def _redrive_findings(self, attributes: Mapping[str, str]) -> list[Finding]:
        policy_text = attributes.get("RedrivePolicy")
        if not policy_text:
            return [
                fail(
                    self.check,
                    "no redrive policy: a job that always fails is retried until the "
                    "retention period ends and then lost; give the queue a dead-letter queue "
                    f"with maxReceiveCount = the daemon's MaxRetries ({self.daemon.max_retries})",
                )
            ]
        try:
            policy = json.loads(policy_text)
            target = str(policy["deadLetterTargetArn"])
            receives = int(policy["maxReceiveCount"])
        except (ValueError, KeyError, TypeError):
            return [fail(self.check, f"unreadable RedrivePolicy {policy_text!r}; set it again")]
        findings = []
        if receives != self.daemon.max_retries:
            findings.append(
                warn(
                    self.check,
                    f"maxReceiveCount is {receives} but the daemon's MaxRetries is "
                    f"{self.daemon.max_retries}: set both to one value (elasticjobs.sqsd."
                    "max_retries locally, aws:elasticbeanstalk:sqsd MaxRetries on the worker)",
                )
            )
        dead_letter_name = target.rpartition(":")[2]
        found = self._call("get_queue_url", QueueName=dead_letter_name)
        if isinstance(found, str):
            reason = "does not exist" if found in _MISSING else f"cannot be read ({found})"
            return [
                *findings,
                fail(
                    self.check,
                    f"its dead-letter queue {dead_letter_name!r} {reason}: failed jobs "
                    "cannot be kept; create it, or point the redrive policy at one that exists",
                ),
            ]
        dead_attributes = self._call(
            "get_queue_attributes",
            QueueUrl=found["QueueUrl"],
            AttributeNames=["MessageRetentionPeriod"],
        )
        if isinstance(dead_attributes, str):
            return [
                *findings,
                warn(
                    self.check,
                    f"the retention of {dead_letter_name!r} cannot be read ({dead_attributes})",
                ),
            ]
        source_days = int(attributes.get("MessageRetentionPeriod", "345600")) / 86400
        dead_days = int(dead_attributes["Attributes"].get("MessageRetentionPeriod", "345600"))
        dead_days_f = dead_days / 86400
        if dead_days_f <= source_days:
            findings.append(
                fail(
                    self.check,
                    f"dead-letter queue {dead_letter_name!r} keeps messages {dead_days_f:g} "
                    f"days, not longer than the queue itself ({source_days:g} days); SQS "
                    "counts retention from the first enqueue, so dead letters may expire as "
                    "soon as they arrive: set its MessageRetentionPeriod to 14 days (1209600)",
                )
            )
        else:
            findings.append(
                ok(
                    self.check,
                    f"dead letters go to {dead_letter_name!r} after {receives} receives, kept "
                    f"{dead_days_f:g} days (> {source_days:g})",
                )
            )
        return findings

    def _permission_findings(self, url: str) -> list[Finding]:
        probes: dict[str, Iterable[tuple[str, dict[str, Any]]]] = {
            "SendMessage": [
                (
                    "send_message",
                    {
                        "QueueUrl": url,
                        "MessageBody": PROBE_BODY,
                        "DelaySeconds": 901,  # over 900: refused on its parameters
                        "MessageAttributes": {
                            "elasticjobs-probe": {"DataType": "Refused", "StringValue": "x"}
                        },
                    },
                )
            ],
        }
        # Only a worker deletes and releases messages: the web role need not be able to.
        if self.settings.process_jobs:
            probes["DeleteMessage"] = [
                ("delete_message", {"QueueUrl": url, "ReceiptHandle": PROBE_RECEIPT_HANDLE})
            ]
            probes["ChangeMessageVisibility"] = [
                (
                    "change_message_visibility",
                    {
                        "QueueUrl": url,
                        "ReceiptHandle": PROBE_RECEIPT_HANDLE,
                        "VisibilityTimeout": 0,
                    },
                )
            ]
        allowed, denied, unclear = ["GetQueueUrl", "GetQueueAttributes"], [], []
        findings: list[Finding] = []
        for action, calls in probes.items():
            for operation, parameters in calls:
                answer = self._call(operation, **parameters)
                if isinstance(answer, str) and answer in _DENIED:
                    denied.append(action)
                elif isinstance(answer, str) and answer in _VALIDATION:
                    allowed.append(action)
                elif isinstance(answer, str):
                    unclear.append(f"{action} ({answer})")
                else:
                    # Only a service that ignores its own limits gets here.
                    findings.append(
                        fail(
                            self.check,
                            f"SQS accepted the {action} probe, which it should refuse: a "
                            f"message with the body {PROBE_BODY!r} may be in {self.name!r}; "
                            "delete it, and check that the endpoint is really SQS",
                        )
                    )
        if denied:
            findings.append(
                fail(
                    self.check,
                    f"denied: sqs:{', sqs:'.join(denied)}; grant them to this role (the web "
                    "role needs SendMessage and GetQueueUrl, the worker role also "
                    "DeleteMessage, ChangeMessageVisibility, ReceiveMessage)",
                )
            )
        if unclear:
            findings.append(
                warn(self.check, f"could not tell whether these are allowed: {', '.join(unclear)}")
            )
        findings.append(ok(self.check, f"allowed: sqs:{', sqs:'.join(allowed)}"))
        return findings
