"""The Elastic Beanstalk deployment kit (examples/eb/): every file parses and agrees with the code.

A copy-ready kit that drifts from the library fails a first deploy in ways that show only on
AWS: a timeout cut by nginx, a cron entry the worker refuses, an IAM action missing for a call
the code makes. These tests hold each file to what the code expects.
"""

from __future__ import annotations

import ast
import contextlib
import json
import re
import shlex
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import botocore.session
import pytest
import yaml
from pyramid.config import Configurator
from pyramid.paster import get_app, get_appsettings

from pyramid_elasticjobs.cli import SUBCOMMANDS
from pyramid_elasticjobs.daemon.cron_check import check_cron, read_cron
from pyramid_elasticjobs.daemon.headers import daemon_headers
from pyramid_elasticjobs.daemon.options import DaemonOptions
from pyramid_elasticjobs.exceptions import ConfigurationError
from pyramid_elasticjobs.runtime import get_runtime
from pyramid_elasticjobs.settings import parse_settings
from pyramid_elasticjobs.signing import signed_message

from .served import (
    DAEMON_CLIENT,
    INTERNET_CLIENT,
    Forwarding,
    Request,
    forwarding_proxy,
    post,
    served_in_subprocess,
)
from .support import SECRET, make_envelope

ROOT = Path(__file__).resolve().parent.parent
KIT = ROOT / "examples" / "eb"
INI = KIT / "production.ini"
PACKAGE = ROOT / "pyramid_elasticjobs"

#: What the environments set (.ebextensions, saved configurations, Secrets Manager).
WEB_ENVIRON = {"ELASTICJOBS_SECRET": SECRET, "AWS_REGION": "us-east-1"}
WORKER_ENVIRON = {**WEB_ENVIRON, "PROCESS_ELASTIC_JOBS": "true"}


# --- reading the kit's files -----------------------------------------------------------------


@dataclass(frozen=True)
class Tagged:
    """A CloudFormation short-form function (``!Ref X``, ``!GetAtt A.B``, ``!Sub "..."``)."""

    tag: str
    value: Any


class CloudFormationLoader(yaml.SafeLoader):
    """PyYAML's safe loader, plus CloudFormation's ``!`` tags kept as :class:`Tagged`."""


def _tagged(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Tagged:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        assert isinstance(node, yaml.MappingNode)
        value = loader.construct_mapping(node, deep=True)
    return Tagged(suffix, value)


CloudFormationLoader.add_multi_constructor("!", _tagged)


def load_yaml(path: Path) -> Any:
    return yaml.load(path.read_text(encoding="utf-8"), Loader=CloudFormationLoader)  # noqa: S506 - a SafeLoader subclass


def template() -> dict[str, Any]:
    loaded: dict[str, Any] = load_yaml(KIT / "cloudformation" / "queues.yaml")
    return loaded


def saved_config(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = load_yaml(
        KIT / ".elasticbeanstalk" / "saved_configs" / f"{name}.cfg.yml"
    )
    return loaded


def ebextensions() -> dict[str, dict[str, Any]]:
    return {path.name: load_yaml(path) for path in sorted((KIT / ".ebextensions").glob("*.config"))}


def policy(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((KIT / "iam" / f"{name}-policy.json").read_text())
    return loaded


def procfile_command() -> list[str]:
    (line,) = (KIT / "Procfile").read_text().splitlines()
    process, _, command = line.partition(":")
    assert process == "web"
    return shlex.split(command)


def option(command: list[str], name: str) -> str:
    return command[command.index(name) + 1]


def nginx_directives() -> dict[str, str]:
    text = (KIT / ".platform" / "nginx" / "conf.d" / "elasticjobs.conf").read_text()
    found = re.findall(r"^\s*(\w+)\s+([^;]+);", text, flags=re.MULTILINE)
    return dict(found)


def seconds(value: str) -> int:
    """nginx's ``900s`` / gunicorn's ``900`` as seconds."""
    return int(value.removesuffix("s"))


@contextlib.contextmanager
def kit_importable() -> Iterator[None]:
    """``myapp`` importable, as from the bundle's root where gunicorn starts; forgotten after."""
    sys.path.insert(0, str(KIT))
    try:
        yield
    finally:
        sys.path.remove(str(KIT))
        for module in [name for name in sys.modules if name.partition(".")[0] == "myapp"]:
            del sys.modules[module]


def app_settings() -> dict[str, Any]:
    """production.ini's application section (loading it imports the app factory)."""
    with kit_importable():
        return dict(get_appsettings(str(INI), "main"))


def kit_settings(environ: dict[str, str]) -> Any:
    return parse_settings(app_settings(), environ)


@contextlib.contextmanager
def kit_app(monkeypatch: pytest.MonkeyPatch, environ: dict[str, str]) -> Iterator[Any]:
    """The kit's application, built from production.ini as gunicorn --paste builds it."""
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    with kit_importable():
        yield get_app(str(INI), "main")


#: Every file of the kit, and the test that checks it.
CHECKED = {
    ".ebextensions/01-elasticjobs.config": "test_ebextensions_use_real_namespaces_and_options",
    ".ebextensions/02-audit-schema.config": "test_ebextensions_use_real_namespaces_and_options",
    ".elasticbeanstalk/saved_configs/web.cfg.yml": "test_saved_configs_set_each_tier",
    ".elasticbeanstalk/saved_configs/worker.cfg.yml": "test_worker_daemon_options_are_valid",
    ".platform/nginx/conf.d/elasticjobs.conf": "test_timeouts_agree_from_nginx_to_the_queue",
    "Procfile": "test_procfile_serves_jobs_behind_a_forwarding_proxy",
    "application.py": "test_application_py_builds_the_app",
    "cloudformation/queues.yaml": "test_template_creates_queue_dead_letter_queue_and_alarm",
    "cron.yaml": "test_cron_yaml_passes_the_cron_check",
    "iam/web-policy.json": "test_web_policy_allows_every_sqs_call_of_the_enqueue_side",
    "iam/worker-policy.json": "test_worker_policy_allows_every_sqs_call_of_worker_and_dlq_service",
    "myapp/__init__.py": "test_application_py_builds_the_app",
    "myapp/jobs.py": "test_cron_yaml_passes_the_cron_check",
    "production.ini": "test_production_ini_settings_parse_with_the_environment",
    "requirements.txt": "test_requirements_install_the_extras_production_needs",
}


def test_every_kit_file_has_a_check() -> None:
    """A file added to examples/eb/ without a test here fails this one."""
    files = {
        path.relative_to(KIT).as_posix()
        for path in KIT.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }
    assert files == set(CHECKED)
    assert set(CHECKED.values()) <= set(globals())


# --- production.ini, the app, cron.yaml, requirements -------------------------------------------


def test_production_ini_settings_parse_with_the_environment() -> None:
    """production.ini parses with the environments' variables: processing on the worker only."""
    web = kit_settings(WEB_ENVIRON)
    worker = kit_settings(WORKER_ENVIRON)
    assert (web.process_jobs, worker.process_jobs) == (False, True)
    assert web.secrets == (SECRET,)
    assert web.aws_region == "us-east-1"
    assert web.endpoint_url is None  # real SQS
    assert web.sqs_queue_name(web.default_queue) == "myapp-default"
    assert not web.remote_addr_is_client  # gunicorn behind nginx: the forwarded hops are seen


def test_production_ini_without_the_secret_names_the_variable() -> None:
    """Without ELASTICJOBS_SECRET the settings fail, naming the variable to set."""
    with pytest.raises(ConfigurationError, match="ELASTICJOBS_SECRET"):
        kit_settings({"AWS_REGION": "us-east-1"})


def test_application_py_builds_the_app(tmp_path: Path) -> None:
    """application.py (the platform's WSGIPath) builds the app from production.ini."""
    script = (
        "import runpy, webtest; "
        "app = runpy.run_path('application.py')['application']; "
        "print(webtest.TestApp(app).get('/').json['status'])"
    )
    completed = subprocess.run(
        [sys.executable, "-c", script],
        cwd=KIT,
        env={"PATH": "/usr/bin:/bin", "AWS_EC2_METADATA_DISABLED": "true", **WEB_ENVIRON},
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == "ok"


def test_cron_yaml_passes_the_cron_check(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every cron.yaml entry names a periodic job of the kit's app, on its periodic route."""
    tasks = read_cron(KIT / "cron.yaml", "examples/eb/cron.yaml")
    assert tasks
    with kit_app(monkeypatch, WORKER_ENVIRON) as app:
        assert check_cron(tasks, app.registry) == []


def test_cron_check_would_catch_a_wrong_entry(monkeypatch: pytest.MonkeyPatch) -> None:
    """The same check refuses an entry naming a job that is not periodic."""
    tasks = read_cron(KIT / "cron.yaml", "examples/eb/cron.yaml")
    wrong = [type(task)(**{**vars_of(task), "name": "smoke_test"}) for task in tasks]
    with kit_app(monkeypatch, WORKER_ENVIRON) as app:
        (problem,) = check_cron(wrong, app.registry)
    assert "not declared periodic" in problem


def vars_of(task: Any) -> dict[str, Any]:
    return {name: getattr(task, name) for name in task.__dataclass_fields__}


def test_requirements_install_the_extras_production_needs() -> None:
    """requirements.txt installs gunicorn and the extras the app uses, and not the local tools."""
    lines = [
        line.strip()
        for line in (KIT / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    (package,) = [line for line in lines if line.startswith("pyramid_elasticjobs")]
    extras = set(re.search(r"\[(.*)\]", package).group(1).split(","))  # type: ignore[union-attr]
    assert {"tm", "audit", "postgresql"} <= extras
    assert "local" not in extras  # moto and the daemon emulator stay on developers' machines
    assert any(line.startswith("gunicorn") for line in lines)


# --- Elastic Beanstalk options ---------------------------------------------------------------

#: Option names of the namespaces the kit uses, from the Elastic Beanstalk developer guide
#: ("General options for all environments"); None: any environment variable name.
NAMESPACES: dict[str, frozenset[str] | None] = {
    "aws:elasticbeanstalk:application:environment": None,
    "aws:elasticbeanstalk:application:environmentsecrets": None,
    "aws:elasticbeanstalk:sqsd": frozenset(
        {
            "WorkerQueueURL",
            "HttpPath",
            "MimeType",
            "HttpConnections",
            "ConnectTimeout",
            "InactivityTimeout",
            "VisibilityTimeout",
            "ErrorVisibilityTimeout",
            "RetentionPeriod",
            "MaxRetries",
        }
    ),
    "aws:elasticbeanstalk:cloudwatch:logs": frozenset(
        {"StreamLogs", "DeleteOnTerminate", "RetentionInDays"}
    ),
    "aws:elasticbeanstalk:environment:proxy": frozenset({"ProxyServer"}),
    "aws:autoscaling:launchconfiguration": frozenset({"IamInstanceProfile", "InstanceType"}),
}
ENVIRONMENT_VARIABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
EBEXTENSIONS_KEYS = {"option_settings", "container_commands", "commands", "files", "packages"}


def check_options(options: dict[str, dict[str, Any]], where: str) -> None:
    for namespace, values in options.items():
        assert namespace in NAMESPACES, f"{where}: unknown namespace {namespace}"
        allowed = NAMESPACES[namespace]
        for name in values:
            if allowed is None:
                assert ENVIRONMENT_VARIABLE.match(name), f"{where}: {name!r}"
            else:
                assert name in allowed, f"{where}: {namespace} has no option {name!r}"


def test_ebextensions_use_real_namespaces_and_options() -> None:
    """.ebextensions hold only real keys, namespaces and options, and nothing tier-specific."""
    files = ebextensions()
    assert files
    for name, content in files.items():
        assert set(content) <= EBEXTENSIONS_KEYS, name
        check_options(content.get("option_settings", {}), name)
        # Applied to both environments: the worker's flag and daemon belong to its config.
        options = content.get("option_settings", {})
        assert "aws:elasticbeanstalk:sqsd" not in options, name
        assert "PROCESS_ELASTIC_JOBS" not in options.get(
            "aws:elasticbeanstalk:application:environment", {}
        ), name
        for command in content.get("container_commands", {}).values():
            assert set(command) <= {"command", "leader_only", "test", "cwd", "env"}, name
    shared = files["01-elasticjobs.config"]["option_settings"]
    assert "ELASTICJOBS_SECRET" in shared["aws:elasticbeanstalk:application:environmentsecrets"]
    assert "AWS_REGION" in shared["aws:elasticbeanstalk:application:environment"]


def test_saved_configs_set_each_tier() -> None:
    """The web configuration is a web tier without processing; the worker's turns it on."""
    web, worker = saved_config("web"), saved_config("worker")
    assert web["EnvironmentTier"] == {"Name": "WebServer", "Type": "Standard"}
    assert worker["EnvironmentTier"] == {"Name": "Worker", "Type": "SQS/HTTP"}
    for name, config in (("web", web), ("worker", worker)):
        check_options(config["OptionSettings"], f"{name}.cfg.yml")
    web_environment = web["OptionSettings"].get("aws:elasticbeanstalk:application:environment", {})
    assert "PROCESS_ELASTIC_JOBS" not in web_environment
    worker_environment = worker["OptionSettings"]["aws:elasticbeanstalk:application:environment"]
    assert worker_environment["PROCESS_ELASTIC_JOBS"] == "true"


#: aws-sqsd's options -> the local daemon's, which checks each against aws-sqsd's range.
LOCAL_DAEMON_OPTIONS = {
    "HttpPath": "http_path",
    "MimeType": "mime_type",
    "HttpConnections": "http_connections",
    "ConnectTimeout": "connect_timeout",
    "InactivityTimeout": "inactivity_timeout",
    "VisibilityTimeout": "visibility_timeout",
    "ErrorVisibilityTimeout": "error_visibility_timeout",
    "MaxRetries": "max_retries",
}


def sqsd_options() -> dict[str, str]:
    options: dict[str, str] = saved_config("worker")["OptionSettings"]["aws:elasticbeanstalk:sqsd"]
    return options


def test_worker_daemon_options_are_valid() -> None:
    """The daemon's options are in aws-sqsd's ranges, as the local emulator checks them."""
    options = sqsd_options()
    local = {
        LOCAL_DAEMON_OPTIONS[name]: value
        for name, value in options.items()
        if name in LOCAL_DAEMON_OPTIONS
    }
    DaemonOptions(queue=options["WorkerQueueURL"], region="us-east-1", **local)
    settings = kit_settings(WORKER_ENVIRON)
    assert options["WorkerQueueURL"].endswith("/" + settings.sqs_queue_name(settings.default_queue))
    assert options["HttpPath"] == "/"
    assert options["HttpPath"] != settings.periodic_tasks_route
    assert options["MimeType"] == "application/json"


def test_timeouts_agree_from_nginx_to_the_queue() -> None:
    """nginx = gunicorn = InactivityTimeout < VisibilityTimeout; connections fit the threads."""
    nginx = nginx_directives()
    command = procfile_command()
    options = sqsd_options()
    read, send = seconds(nginx["proxy_read_timeout"]), seconds(nginx["proxy_send_timeout"])
    gunicorn = seconds(option(command, "--timeout"))
    inactivity = int(options["InactivityTimeout"])
    assert read == send == gunicorn == inactivity
    assert inactivity < int(options["VisibilityTimeout"])
    threads = int(option(command, "--workers")) * int(option(command, "--threads"))
    assert int(options["HttpConnections"]) <= threads
    parameters = template()["Parameters"]
    assert int(parameters["VisibilityTimeout"]["Default"]) == int(options["VisibilityTimeout"])
    assert int(parameters["MaxReceiveCount"]["Default"]) == int(options["MaxRetries"])


# --- the CloudFormation template -------------------------------------------------------------


def references(value: Any) -> Iterator[Tagged]:
    if isinstance(value, Tagged):
        yield value
        yield from references(value.value)
    elif isinstance(value, dict):
        for item in value.values():
            yield from references(item)
    elif isinstance(value, list):
        for item in value:
            yield from references(item)


def test_template_creates_queue_dead_letter_queue_and_alarm() -> None:
    """The template's queues carry the app's names, a redrive policy, and an alarm on the DLQ."""
    body = template()
    resources, parameters = body["Resources"], body["Parameters"]
    types = {name: resource["Type"] for name, resource in resources.items()}
    assert types["JobQueue"] == types["DeadLetterQueue"] == "AWS::SQS::Queue"
    assert types["DeadLetterAlarm"] == "AWS::CloudWatch::Alarm"
    # Every !Ref / !GetAtt names something the template defines.
    known = set(resources) | set(parameters) | {"AWS::Region", "AWS::AccountId"}
    for tagged in references(body):
        if tagged.tag == "Ref":
            assert tagged.value in known, tagged
        elif tagged.tag == "GetAtt":
            assert tagged.value.partition(".")[0] in resources, tagged
    settings = kit_settings(WEB_ENVIRON)
    assert parameters["QueuePrefix"]["Default"] == settings.queue_prefix
    job_queue = resources["JobQueue"]["Properties"]
    dead_letters = resources["DeadLetterQueue"]["Properties"]
    assert job_queue["QueueName"] == Tagged("Sub", "${QueuePrefix}" + settings.default_queue)
    assert dead_letters["QueueName"] == Tagged(
        "Sub", "${QueuePrefix}" + settings.default_queue + settings.dead_letter_suffix
    )
    redrive = job_queue["RedrivePolicy"]
    assert redrive["deadLetterTargetArn"] == Tagged("GetAtt", "DeadLetterQueue.Arn")
    assert redrive["maxReceiveCount"] == Tagged("Ref", "MaxReceiveCount")
    # A message moved on the last day of its retention still has time in the DLQ.
    assert dead_letters["MessageRetentionPeriod"] > job_queue["MessageRetentionPeriod"]
    alarm = resources["DeadLetterAlarm"]["Properties"]
    assert alarm["Namespace"] == "AWS/SQS"
    assert alarm["MetricName"] == "ApproximateNumberOfMessagesVisible"
    assert alarm["Dimensions"] == [
        {"Name": "QueueName", "Value": Tagged("GetAtt", "DeadLetterQueue.QueueName")}
    ]
    assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (0, "GreaterThanThreshold")
    assert body["Outputs"]["JobQueueUrl"]["Value"] == Tagged("Ref", "JobQueue")


# --- IAM: the policies cover the SQS calls the code makes --------------------------------------

#: IAM authorises the batch calls with the single call's action.
BATCH_ACTIONS = {
    "SendMessageBatch": "SendMessage",
    "DeleteMessageBatch": "DeleteMessage",
    "ChangeMessageVisibilityBatch": "ChangeMessageVisibility",
}


def sqs_methods() -> dict[str, str]:
    """boto3's SQS client methods (snake_case) -> their API operation (PascalCase)."""
    model = botocore.session.get_session().get_service_model("sqs")
    return {re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower(): name for name in model.operation_names}


def receiver_name(node: ast.expr) -> str:
    """``self.client`` -> ``client``; ``sqs`` -> ``sqs``; anything else -> ``""``."""
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Name):
        return node.id
    return ""


def sqs_calls(paths: list[Path]) -> dict[str, set[str]]:
    """IAM actions (``sqs:SendMessage``) of the SQS client calls in ``paths`` -> where."""
    methods = sqs_methods()
    found: dict[str, set[str]] = {}
    for path in paths:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            operation = methods.get(node.func.attr)
            receiver = receiver_name(node.func.value).lower()
            # A wrapper given the method's name: doctor's self._call("get_queue_url", ...).
            if node.func.attr == "_call" and node.args and isinstance(node.args[0], ast.Constant):
                operation, receiver = methods.get(str(node.args[0].value)), "client"
            if operation and ("client" in receiver or "sqs" in receiver):
                action = "sqs:" + BATCH_ACTIONS.get(operation, operation)
                found.setdefault(action, set()).add(f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def allowed(document: dict[str, Any], resource_suffix: str | None = None) -> set[str]:
    actions: set[str] = set()
    for statement in document["Statement"]:
        assert statement["Effect"] == "Allow"
        resources = statement["Resource"]
        if resource_suffix and not any(r.endswith(resource_suffix) for r in resources):
            continue
        actions.update(statement["Action"])
    return actions


ENQUEUE_SIDE = [PACKAGE / "transport.py", PACKAGE / "client.py"]


def worker_side() -> list[Path]:
    """The worker, the transport, the dead-letter service and its dashboard, and doctor --aws
    (run on the worker, where the role can do everything it probes)."""
    paths = [PACKAGE / "worker.py", PACKAGE / "transport.py", PACKAGE / "resent.py"]
    for part in ("deadletters", "doctor"):
        paths += sorted(PACKAGE.glob(f"{part}.py")) + sorted(PACKAGE.glob(f"{part}/**/*.py"))
    paths += sorted((ROOT / "dashboard").rglob("*.py"))
    return paths


def test_the_sqs_call_scan_finds_the_calls_it_must_cover() -> None:
    """The scan sees the enqueue side's calls, so the coverage tests below cannot pass empty."""
    calls = sqs_calls(ENQUEUE_SIDE)
    assert {"sqs:SendMessage", "sqs:GetQueueUrl"} <= set(calls)
    assert any("send_message_batch" in line for line in _source_lines(calls["sqs:SendMessage"]))


def _source_lines(places: set[str]) -> list[str]:
    lines = []
    for place in places:
        path, _, number = place.rpartition(":")
        lines.append((ROOT / path).read_text().splitlines()[int(number) - 1])
    return lines


def test_web_policy_allows_every_sqs_call_of_the_enqueue_side() -> None:
    """The web role may make every SQS call of transport.py and client.py on the job queue."""
    calls = sqs_calls(ENQUEUE_SIDE)
    granted = allowed(policy("web"), resource_suffix=":myapp-default")
    missing = {action: sorted(places) for action, places in calls.items() if action not in granted}
    assert not missing, f"add to iam/web-policy.json: {missing}"


def test_web_policy_cannot_touch_messages_nor_the_dead_letter_queue() -> None:
    """Least privilege: the web role sends; it cannot receive, delete, purge, or reach the DLQ."""
    document = policy("web")
    actions = allowed(document)
    assert not actions & {
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:PurgeQueue",
        "sqs:StartMessageMoveTask",
    }
    assert not any("*" in action for action in actions)
    resources = [r for statement in document["Statement"] for r in statement["Resource"]]
    assert not any(r.endswith("dead-letters") for r in resources)


def test_worker_policy_allows_every_sqs_call_of_worker_and_dlq_service() -> None:
    """The worker role may make every SQS call of the worker and the dead-letter operations."""
    calls = sqs_calls(worker_side())
    granted = allowed(policy("worker"))
    missing = {action: sorted(places) for action, places in calls.items() if action not in granted}
    assert not missing, f"add to iam/worker-policy.json: {missing}"
    # What the dashboard's dead-letter actions need, whether or not their code is here yet.
    dead_letter_queue = allowed(policy("worker"), resource_suffix=":myapp-default-dead-letters")
    assert {
        "sqs:ReceiveMessage",
        "sqs:ChangeMessageVisibility",
        "sqs:DeleteMessage",
        "sqs:PurgeQueue",
        "sqs:StartMessageMoveTask",
        "sqs:ListMessageMoveTasks",
        "sqs:CancelMessageMoveTask",
        "sqs:GetQueueAttributes",
        "sqs:ListDeadLetterSourceQueues",
    } <= dead_letter_queue
    # Redrive sends to the source queue; the worker re-sends early messages there too.
    assert "sqs:SendMessage" in allowed(policy("worker"), resource_suffix=":myapp-default")


def test_policies_name_only_real_sqs_actions() -> None:
    """Every sqs: action in the policies is an SQS API operation (no typo grants nothing)."""
    operations = set(sqs_methods().values())
    for name in ("web", "worker"):
        for action in allowed(policy(name)):
            service, _, operation = action.partition(":")
            if service == "sqs":
                assert operation in operations, f"{name}: {action}"


# --- served as the Procfile serves it ---------------------------------------------------------


def signed_delivery(job_name: str, arguments: dict[str, Any]) -> Request:
    """The daemon's POST of a job message signed as the web environment would sign it."""
    settings = {
        **app_settings(),
        "elasticjobs.secret": SECRET,
        "elasticjobs.aws_region": "us-east-1",
    }
    with Configurator(settings=settings) as config:
        config.include("pyramid_elasticjobs")
    runtime = get_runtime(config.registry)
    envelope = make_envelope(job_name, arguments, queue="default")
    message = signed_message(runtime, envelope.to_json(), job_name)
    received = {
        "MessageId": str(uuid.uuid4()),
        "Attributes": {"ApproximateReceiveCount": "1"},
        "MessageAttributes": {
            name: {"DataType": "String", "StringValue": value}
            for name, value in message.attributes.items()
        },
    }
    headers = daemon_headers(received, "myapp-default")
    headers["Content-Type"] = "application/json"
    return Request("/", headers, message.body)


def test_procfile_serves_jobs_behind_a_forwarding_proxy(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The Procfile's gunicorn runs a job posted through nginx-like forwarding from the daemon,
    and refuses one whose forwarded client is on the internet, with no source setting at all.
    """
    for name, value in WORKER_ENVIRON.items():
        monkeypatch.setenv(name, value)
    command = procfile_command()
    command[command.index("--bind") + 1] = "fd://{fd}"
    command[command.index("--paste") + 1] = str(INI)
    assert command[0] == "gunicorn"
    command = [sys.executable, "-m", "gunicorn", "--chdir", str(KIT), *command[1:]]
    delivery = signed_delivery("smoke_test", {"note": "from the kit test"})
    with served_in_subprocess(command, {}, tmp_path / "gunicorn.log") as served:
        with forwarding_proxy(served.url, Forwarding.ELASTIC_BEANSTALK, DAEMON_CLIENT) as proxy:
            answer = post(proxy, delivery)
        with forwarding_proxy(served.url, Forwarding.ELASTIC_BEANSTALK, INTERNET_CLIENT) as proxy:
            refused = post(proxy, delivery)
    assert (answer.code, answer.status) == (200, "succeeded"), served.stderr
    assert (refused.code, refused.status) == (403, "untrusted_source")
    # production.ini's logging: the job's own line reaches the platform's log (stderr).
    assert "smoke_test ran: from the kit test" in served.stderr


# --- elasticjobs doctor ----------------------------------------------------------------------


@pytest.mark.skipif(
    "doctor" not in SUBCOMMANDS, reason="`elasticjobs doctor` is not a command of this version"
)
def test_doctor_finds_nothing_failing_in_the_example_ini() -> None:
    """`elasticjobs doctor production.ini` exits 0 on the worker's settings (no AWS access)."""
    completed = subprocess.run(
        [sys.executable, "-m", "pyramid_elasticjobs.cli", "doctor", str(INI)],
        cwd=KIT,
        env={
            "PATH": "/usr/bin:/bin",
            "PYTHONPATH": str(KIT),
            "AWS_EC2_METADATA_DISABLED": "true",
            **WORKER_ENVIRON,
        },
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
