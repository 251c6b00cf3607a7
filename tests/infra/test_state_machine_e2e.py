"""The deployed state machine runs capture → transform → load through the real handlers.

infra/examples/local is applied to a moto server running in this process
(tests/infra/lambda_emulator.py), which executes the state machine and routes each Lambda
invoke to the deployed function's handler, with the environment Terraform gave the function.
The source and warehouse secrets hold the connection parts of real test databases. Checked:
a committed row reaches the raw and processed buckets and the warehouse; a failing transform
is retried as configured, alerts through SNS (to an SQS queue) and fails the execution, and
its ERROR line matches the deployed metric filter; capture's slot-lag and load's freshness
EMF lines name what the deployed alarms read; no password or DSN reaches any log.

IAM: every request to the emulator is recorded with the access key that signed it (each
function runs with its role's own temporary credentials); each call the functions and the
state machine make in an execution, their log delivery included, is checked against the
caller's role policies as deployed (read back through IAM) by an IAM evaluator
(tests/infra/iam_audit.py), since the emulator itself enforces no policy.
"""

from __future__ import annotations

import json
import time
import uuid
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import psycopg
import pytest

from pgcdc.pipeline import handlers
from tests.harness import PgServer
from tests.infra.api_calls import ApiCall, CallRecorder, IamRequest, Names, recording
from tests.infra.conftest import Terraform
from tests.infra.filter_pattern import matches
from tests.infra.iam_audit import (
    Audit,
    Deployed,
    audit,
    may_assume,
    role_policies,
    trust_policy,
)
from tests.infra.iam_policy import Decision
from tests.infra.lambda_emulator import (
    OPERATOR_CREDENTIALS,
    STATE_MACHINE_ACCESS_KEY,
    Invocation,
    LambdaRouter,
    moto_in_process,
    route_lambda_to_handlers,
    sfn_shim,
)
from tests.infra.process_output import capture_process_output

pytestmark = pytest.mark.integration

STEPS = ("capture", "transform", "load")
TASK_RETRY_ATTEMPTS = 2
EXECUTION_TIMEOUT = 300.0


@dataclass
class Database:
    """A test database: its DSN and the secret document that names it."""

    dsn: str
    secret: dict[str, Any]

    @property
    def password(self) -> str:
        return str(self.secret["password"])


@dataclass
class Stack:
    """The local example applied to the in-process emulator, with its Lambda router."""

    endpoint: str
    outputs: dict[str, Any]
    router: LambdaRouter
    source: Database
    warehouse: Database
    slot: str
    recorder: CallRecorder
    # The buckets' policies as deployed (bucket name → document), kept before they are
    # lifted: the IAM audit evaluates them as on AWS.
    bucket_policies: dict[str, dict[str, Any]] = field(default_factory=dict)

    def client(self, service: str) -> Any:
        """A boto3 client of the emulator (typed Any: the service name is a variable)."""
        make: Any = boto3.client
        return make(
            service,
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )


def _database(pg_server: PgServer, prefix: str) -> Iterator[Database]:
    name = pg_server.create_database(prefix)
    dsn = pg_server.dsn(name)
    info = psycopg.conninfo.conninfo_to_dict(dsn)
    secret = {
        "host": info["host"],
        "port": int(str(info["port"])),
        "username": info["user"],
        "password": info["password"],
        "dbname": info["dbname"],
    }
    yield Database(dsn, secret)
    pg_server.drop_database(name)


@pytest.fixture(scope="module")
def source_db(pg_server: PgServer) -> Iterator[Database]:
    yield from _database(pg_server, "e2esrc")


@pytest.fixture(scope="module")
def warehouse_db(pg_server: PgServer) -> Iterator[Database]:
    yield from _database(pg_server, "e2ewh")


@pytest.fixture(scope="module")
def monkeymodule() -> Iterator[pytest.MonkeyPatch]:
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def _package(path: Path) -> Path:
    """Terraform needs a zip; the emulator runs the handlers from this checkout instead."""
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("pgcdc/pipeline/__init__.py", "")
        archive.writestr(
            "pgcdc/pipeline/handlers.py", "# stand-in: see tests/infra/lambda_emulator.py\n"
        )
    return path


@pytest.fixture(scope="module")
def stack(
    terraform: Terraform,
    source_db: Database,
    warehouse_db: Database,
    monkeymodule: pytest.MonkeyPatch,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    """Apply infra/examples/local to an in-process moto; destroy it afterwards."""
    slot = f"e2e_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(source_db.dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE public.orders (id int PRIMARY KEY, item text, qty int)")
        conn.execute("SELECT pg_create_logical_replication_slot(%s, 'wal2json')", (slot,))
    with (
        recording(CallRecorder()) as recorder,
        moto_in_process() as endpoint,
        sfn_shim(endpoint) as sfn_endpoint,
    ):
        router = route_lambda_to_handlers(monkeymodule, endpoint)
        folder = terraform.init("examples/local")
        package = _package(tmp_path_factory.mktemp("e2e-package") / "pgcdc.zip")
        args = [
            "-input=false",
            "-no-color",
            f"-var=endpoint_url={endpoint}",
            f"-var=sfn_endpoint_url={sfn_endpoint}",
            f"-var=package_path={package}",
            f"-var=name=pgcdc-e{uuid.uuid4().hex[:6]}",
            f"-var=slot_name={slot}",
            f"-var=source_secret_string={json.dumps(source_db.secret)}",
            f"-var=warehouse_secret_string={json.dumps(warehouse_db.secret)}",
            f"-var=task_retry_attempts={TASK_RETRY_ATTEMPTS}",
            "-var=task_retry_interval_seconds=1",
            "-var=retry_max_delay_seconds=2",
        ]
        terraform.run("apply", "-auto-approve", *args, cwd=folder, timeout=600)
        try:
            outputs = json.loads(terraform.run("output", "-json", cwd=folder).stdout)
            deployed = Stack(
                endpoint,
                outputs["pgcdc"]["value"],
                router,
                source_db,
                warehouse_db,
                slot,
                recorder,
            )
            _lift_tls_only_policies(deployed)
            yield deployed
        finally:
            terraform.run("destroy", "-auto-approve", *args, cwd=folder, timeout=600)


def _lift_tls_only_policies(stack: Stack) -> None:
    """Delete the buckets' TLS-only policies (an emulator gap, not a pgcdc change).

    The policy denies requests with ``aws:SecureTransport = false``. moto evaluates a bucket
    policy's Deny on object writes without any condition keys, so it denies every write
    over its plain-HTTP endpoint; on AWS the functions use HTTPS and the policy lets them
    through. test_terraform.py checks the policies themselves, and the IAM audit below
    evaluates them, as deployed, on every S3 call of the execution.
    """
    s3 = stack.client("s3")
    for key in ("raw_bucket_name", "processed_bucket_name"):
        bucket = stack.outputs[key]
        policy = s3.get_bucket_policy(Bucket=bucket)["Policy"]
        assert "aws:SecureTransport" in policy
        stack.bucket_policies[bucket] = json.loads(policy)
        s3.delete_bucket_policy(Bucket=bucket)


@dataclass
class Run:
    """One finished execution: its description, its handlers' calls, what was printed and
    every request the emulator received meanwhile."""

    execution: dict[str, Any]
    invocations: list[Invocation]
    printed: str
    api_calls: list[ApiCall]


def _execute(stack: Stack, name: str) -> Run:
    """Start a named execution and wait for it to end."""
    sfn = stack.client("stepfunctions")
    mark = stack.recorder.mark()
    with capture_process_output() as printed:
        arn = sfn.start_execution(
            stateMachineArn=stack.outputs["state_machine_arn"], name=name, input="{}"
        )["executionArn"]
        deadline = time.monotonic() + EXECUTION_TIMEOUT
        while True:
            execution = sfn.describe_execution(executionArn=arn)
            if execution["status"] != "RUNNING" or time.monotonic() > deadline:
                break
            time.sleep(0.5)
    calls = [i for i in stack.router.invocations if i.event.get("execution_id") == arn]
    return Run(execution, calls, printed.text, stack.recorder.since(mark))


def _commit(stack: Stack, statement: str) -> None:
    with psycopg.connect(stack.source.dsn, autocommit=True) as conn:
        conn.execute(statement)


def _keys(stack: Stack, bucket: str) -> set[str]:
    pages = stack.client("s3").get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return {o["Key"] for page in pages for o in page.get("Contents", [])}


def _json_lines(text: str) -> list[dict[str, Any]]:
    found = []
    for line in text.splitlines():
        try:
            doc = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(doc, dict):
            found.append(doc)
    return found


@pytest.fixture(scope="module")
def successful_run(stack: Stack) -> tuple[Run, set[str], set[str]]:
    """A change committed, then one execution; the buckets' keys before it."""
    raw_before = _keys(stack, stack.outputs["raw_bucket_name"])
    processed_before = _keys(stack, stack.outputs["processed_bucket_name"])
    _commit(stack, "INSERT INTO public.orders VALUES (1, 'teapot', 3), (2, 'kettle', 1)")
    run = _execute(stack, f"e2e-ok-{uuid.uuid4().hex[:8]}")
    return run, raw_before, processed_before


def test_execution_runs_capture_transform_load_through_the_handlers(
    stack: Stack, successful_run: tuple[Run, set[str], set[str]]
) -> None:
    run, raw_before, processed_before = successful_run
    execution = run.execution
    assert execution["status"] == "SUCCEEDED", execution
    assert [i.step for i in run.invocations] == list(STEPS)
    assert all(i.error_type is None for i in run.invocations)

    output = json.loads(execution["output"])
    assert output["capture"]["result"]["rows"] == 2
    assert output["capture"]["result"]["slot"] == stack.slot
    assert output["capture"]["result"]["more_to_read"] is False
    # The budget comes from the context's remaining time: the deployed 900 s timeout, less
    # what the invocation had used when the handler read it (at most all it used; on a busy
    # machine that can be seconds).
    (capture,) = [i for i in run.invocations if i.step == "capture"]
    full = handlers.time_budget(900_000)
    least = handlers.time_budget(int((900 - capture.seconds) * 1000))
    assert least <= output["capture"]["result"]["time_budget_seconds"] <= full
    assert output["transform"]["result"]["changes"] == 2
    assert output["load"]["result"]["batches"] == 1

    raw_new = _keys(stack, stack.outputs["raw_bucket_name"]) - raw_before
    assert any(k.startswith("raw/public.orders/") and k.endswith(".parquet") for k in raw_new)
    processed_new = _keys(stack, stack.outputs["processed_bucket_name"]) - processed_before
    assert processed_new and all(k.startswith("processed/") for k in processed_new)

    with psycopg.connect(stack.warehouse.dsn) as conn:
        rows = conn.execute("SELECT id, item, qty FROM mirror_public.orders ORDER BY id").fetchall()
    assert rows == [(1, "teapot", 3), (2, "kettle", 1)]


def test_handler_logs_carry_execution_and_request_ids_and_reach_the_log_groups(
    stack: Stack, successful_run: tuple[Run, set[str], set[str]]
) -> None:
    run = successful_run[0]
    arn = run.execution["executionArn"]
    logs = stack.client("logs")
    for call in run.invocations:
        lines = [d for d in _json_lines(call.output) if "level" in d]
        assert lines, f"{call.step} printed no log line"
        assert all(d["execution_id"] == arn for d in lines), lines
        assert all(d["request_id"] == call.request_id for d in lines), lines
        assert all(d["step"] == call.step for d in lines), lines
        group = stack.outputs["log_group_names"][call.step]
        events = logs.filter_log_events(logGroupName=group)["events"]
        assert {e["message"] for e in events} >= set(call.lines)


def test_capture_prints_slot_metrics_as_emf_in_the_alarms_namespace(
    stack: Stack, successful_run: tuple[Run, set[str], set[str]]
) -> None:
    capture = successful_run[0].invocations[0]
    documents = [d for d in _json_lines(capture.output) if "_aws" in d]
    assert len(documents) == 1, capture.output
    emf = documents[0]
    directive = emf["_aws"]["CloudWatchMetrics"][0]
    names = {m["Name"] for m in directive["Metrics"]}
    assert {"SlotLagBytes", "RetainedWalBytes"} <= names
    assert all(isinstance(emf[n], int | float) for n in names)
    assert directive["Dimensions"] == [[]]

    # The alarm on slot lag reads this namespace and metric, without dimensions.
    cloudwatch = stack.client("cloudwatch")
    alarms = cloudwatch.describe_alarms(AlarmNames=[f"{_name(stack)}-slot-lag"])["MetricAlarms"]
    assert [(a["Namespace"], a["MetricName"], a.get("Dimensions", [])) for a in alarms] == [
        (directive["Namespace"], "SlotLagBytes", [])
    ]


def test_load_prints_freshness_as_emf_in_the_freshness_alarms_namespace(
    stack: Stack, successful_run: tuple[Run, set[str], set[str]]
) -> None:
    load = successful_run[0].invocations[-1]
    assert load.step == "load"
    documents = [d for d in _json_lines(load.output) if "_aws" in d]
    assert len(documents) == 1, load.output
    emf = documents[0]
    directive = emf["_aws"]["CloudWatchMetrics"][0]
    assert directive["Metrics"] == [{"Name": "FreshnessSeconds", "Unit": "Seconds"}]
    assert isinstance(emf["FreshnessSeconds"], float) and emf["FreshnessSeconds"] >= 0
    assert directive["Dimensions"] == [[]]

    # The freshness alarm reads this namespace and metric, without dimensions.
    cloudwatch = stack.client("cloudwatch")
    alarms = cloudwatch.describe_alarms(AlarmNames=[f"{_name(stack)}-freshness"])["MetricAlarms"]
    assert [(a["Namespace"], a["MetricName"], a.get("Dimensions", [])) for a in alarms] == [
        (directive["Namespace"], "FreshnessSeconds", [])
    ]


def _name(stack: Stack) -> str:
    return str(stack.outputs["state_machine_name"]).removesuffix("-pipeline")


def test_no_password_or_dsn_reaches_any_log(
    stack: Stack, successful_run: tuple[Run, set[str], set[str]]
) -> None:
    run = successful_run[0]
    texts = {f"{i.step} handler output": i.output for i in run.invocations}
    texts["process stdout/stderr"] = run.printed
    logs = stack.client("logs")
    for step in STEPS:
        group = stack.outputs["log_group_names"][step]
        events = logs.filter_log_events(logGroupName=group)["events"]
        texts[f"log group {group}"] = "\n".join(e["message"] for e in events)
    sfn = stack.client("stepfunctions")
    history = sfn.get_execution_history(executionArn=run.execution["executionArn"])
    texts["execution history"] = json.dumps(history["events"], default=str)
    texts["execution output"] = run.execution.get("output", "")
    assert len(run.printed) > 0 and all(texts.values()), "nothing captured to search"
    secrets = {
        "source password": stack.source.password,
        "warehouse password": stack.warehouse.password,
        "source DSN": stack.source.dsn,
        "warehouse DSN": stack.warehouse.dsn,
    }
    leaks = [(what, where) for what, s in secrets.items() for where, t in texts.items() if s in t]
    assert not leaks, f"secrets found in logs: {leaks}"


STATE_MACHINE = "state machine"
LOG_DELIVERY = {"logs:CreateLogStream", "logs:PutLogEvents"}


def _roles(stack: Stack) -> dict[str, str]:
    """The role ARN of each step's function and of the state machine, as deployed."""
    lam = stack.client("lambda")
    roles = {
        step: lam.get_function_configuration(FunctionName=name)["Role"]
        for step, name in stack.outputs["function_names"].items()
    }
    machine = stack.client("stepfunctions").describe_state_machine(
        stateMachineArn=stack.outputs["state_machine_arn"]
    )
    roles[STATE_MACHINE] = machine["roleArn"]
    return roles


def _audit(stack: Stack, run: Run, *, over_tls: bool = True) -> Audit:
    """The IAM verdict on every call the run's functions and state machine made, with the
    buckets' policies and the TLS the functions use on AWS (or, to check those policies,
    as if over plain HTTP)."""
    account = str(stack.outputs["state_machine_arn"]).split(":")[4]
    pages = stack.client("secretsmanager").get_paginator("list_secrets").paginate()
    secrets = {s["Name"]: s["ARN"] for page in pages for s in page["SecretList"]}
    principals = {**stack.router.principals, STATE_MACHINE_ACCESS_KEY: _roles(stack)[STATE_MACHINE]}
    iam = stack.client("iam")
    policies: dict[str, list[dict[str, Any]]] = {}

    def policies_of(role: str) -> list[dict[str, Any]]:
        if role not in policies:
            policies[role] = role_policies(iam, role)
        return policies[role]

    def bucket_policy(request: IamRequest) -> list[dict[str, Any]]:
        if not request.resource.startswith("arn:aws:s3:::"):
            return []
        bucket = request.resource.removeprefix("arn:aws:s3:::").partition("/")[0]
        return [stack.bucket_policies[bucket]] if bucket in stack.bucket_policies else []

    context = {"aws:SecureTransport": str(over_tls).lower()}
    deployed = Deployed(policies_of, bucket_policy, context)
    operator = {OPERATOR_CREDENTIALS["AWS_ACCESS_KEY_ID"]}
    return audit(run.api_calls, principals, operator, Names(account, secrets), deployed)


def test_every_aws_call_of_the_execution_is_allowed_by_the_callers_deployed_policy(
    stack: Stack, successful_run: tuple[Run, set[str], set[str]]
) -> None:
    result = _audit(stack, successful_run[0])
    roles = _roles(stack)
    assert not result.unattributed, [c.describe() for c in result.unattributed]
    made = {step: {v.request.action for v in result.of(role)} for step, role in roles.items()}
    # What each caller must do to move a change to the warehouse: an audit that saw fewer
    # calls would prove nothing.
    assert {"secretsmanager:GetSecretValue", "s3:ListBucket", "s3:PutObject"} <= made["capture"]
    assert {"s3:ListBucket", "s3:GetObject", "s3:PutObject"} <= made["transform"]
    assert {"secretsmanager:GetSecretValue", "s3:GetObject"} <= made["load"]
    assert all(made[step] >= LOG_DELIVERY for step in STEPS)
    assert made[STATE_MACHINE] == {"lambda:InvokeFunction"}
    invoked = {v.request.resource for v in result.of(roles[STATE_MACHINE])}
    assert invoked == set(stack.outputs["function_arns"].values())
    read = {
        step: {
            v.request.resource
            for v in result.of(roles[step])
            if "secretsmanager" in v.request.action
        }
        for step in ("capture", "load")
    }
    assert read == {
        "capture": {stack.outputs["source_secret_arn"]},
        "load": {stack.outputs["warehouse_secret_arn"]},
    }

    refused = result.refused()
    assert not refused, "calls the deployed policies refuse:\n" + "\n".join(
        v.describe() for v in refused
    )
    disagree = [v.describe() for v in result.verdicts if v.moto_decision is not v.decision]
    assert not disagree, f"moto's evaluator decides otherwise: {disagree}"


def test_each_function_sends_its_logs_to_its_own_terraform_made_group_as_its_role_may(
    stack: Stack, successful_run: tuple[Run, set[str], set[str]]
) -> None:
    result = _audit(stack, successful_run[0])
    roles = _roles(stack)
    for step in STEPS:
        group = stack.outputs["log_group_names"][step]
        delivery = [v for v in result.of(roles[step]) if v.request.action.startswith("logs:")]
        # Only a new stream and its events: the group existed (Terraform made it, with its
        # retention and metric filters), so Lambda had no CreateLogGroup to call.
        assert {v.request.action for v in delivery} == LOG_DELIVERY, step
        assert all(f":log-group:{group}:log-stream:" in v.request.resource for v in delivery)
        assert all(v.decision is Decision.ALLOW for v in delivery), [v.describe() for v in delivery]


def test_tls_only_bucket_policies_refuse_every_s3_call_over_plain_http_only(
    stack: Stack, successful_run: tuple[Run, set[str], set[str]]
) -> None:
    assert set(stack.bucket_policies) == {
        stack.outputs["raw_bucket_name"],
        stack.outputs["processed_bucket_name"],
    }
    run = successful_run[0]
    over_tls = [v for v in _audit(stack, run).verdicts if v.request.action.startswith("s3:")]
    assert over_tls and {v.decision for v in over_tls} == {Decision.ALLOW}
    over_http = _audit(stack, run, over_tls=False).verdicts
    refused = {v.decision for v in over_http if v.request.action.startswith("s3:")}
    assert refused == {Decision.EXPLICIT_DENY}


def test_each_role_trusts_the_service_that_uses_it_in_this_account_only(stack: Stack) -> None:
    iam = stack.client("iam")
    account = str(stack.outputs["state_machine_arn"]).split(":")[4]
    here = {"aws:SourceAccount": account}
    for step, role in _roles(stack).items():
        trust = trust_policy(iam, role)
        user, other = "lambda.amazonaws.com", "states.amazonaws.com"
        if step == STATE_MACHINE:
            user, other = other, user
        assert may_assume(trust, user, role, here), step
        assert not may_assume(trust, other, role, here), step
    machine = _roles(stack)[STATE_MACHINE]
    elsewhere = {"aws:SourceAccount": "000000000000"}
    trust = trust_policy(iam, machine)
    assert not may_assume(trust, "states.amazonaws.com", machine, elsewhere)


def test_failing_transform_is_retried_alerts_and_fails_the_execution(stack: Stack) -> None:
    sqs, sns = stack.client("sqs"), stack.client("sns")
    queue = sqs.create_queue(QueueName=f"alerts-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(TopicArn=stack.outputs["sns_topic_arn"], Protocol="sqs", Endpoint=queue_arn)

    # A real failure: the transform function's processed store is a bucket that does not
    # exist (as if removed), so writing the new batch fails with a StorageError.
    lam = stack.client("lambda")
    function = stack.outputs["function_names"]["transform"]
    env = lam.get_function_configuration(FunctionName=function)["Environment"]["Variables"]
    broken = {**env, "PGCDC_PROCESSED_URI": f"s3://pgcdc-gone-{uuid.uuid4().hex[:8]}/processed"}
    lam.update_function_configuration(FunctionName=function, Environment={"Variables": broken})
    try:
        _commit(stack, "UPDATE public.orders SET qty = qty + 1 WHERE id = 1")
        run = _execute(stack, f"e2e-fail-{uuid.uuid4().hex[:8]}")
    finally:
        lam.update_function_configuration(FunctionName=function, Environment={"Variables": env})

    assert run.execution["status"] == "FAILED", run.execution
    transforms = [i for i in run.invocations if i.step == "transform"]
    assert len(transforms) == 1 + TASK_RETRY_ATTEMPTS
    assert {i.error_type for i in transforms} == {"StorageError"}
    assert not [i for i in run.invocations if i.step == "load"]
    assert run.execution.get("error") == "StorageError"

    messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=2)
    bodies = [json.loads(m["Body"]) for m in messages.get("Messages", [])]
    assert len(bodies) == 1, bodies
    assert "the transform step failed" in bodies[0]["Subject"]
    assert "transform" in bodies[0]["Message"] and "StorageError" in bodies[0]["Message"]
    assert run.execution["executionArn"] in bodies[0]["Message"]

    # Each failed invocation printed exactly one ERROR line, which the deployed filter counts.
    logs = stack.client("logs")
    filters = logs.describe_metric_filters(
        logGroupName=stack.outputs["log_group_names"]["transform"]
    )
    pattern = next(
        f["filterPattern"]
        for f in filters["metricFilters"]
        if f["metricTransformations"][0]["metricName"] == "TransformErrors"
    )
    for call in transforms:
        counted = [line for line in call.lines if matches(pattern, line)]
        assert len(counted) == 1, call.output
        error = json.loads(counted[0])
        assert error["level"] == "ERROR" and error["step"] == "transform"
        assert error["error_type"] == "StorageError"
        assert "pgcdc-gone-" in error["message"]
        assert stack.warehouse.password not in call.output
    capture = next(i for i in run.invocations if i.step == "capture")
    assert not [line for line in capture.lines if matches(pattern, line)]

    # IAM: the state machine's invokes and its alert are allowed, as is everything else but
    # the transform's requests to the removed bucket, which its policy does not name.
    result = _audit(stack, run)
    roles = _roles(stack)
    assert not result.unattributed, [c.describe() for c in result.unattributed]
    machine = result.of(roles[STATE_MACHINE])
    published = [v.request.resource for v in machine if v.request.action == "sns:Publish"]
    assert published == [stack.outputs["sns_topic_arn"]]
    assert len([v for v in machine if v.request.action == "lambda:InvokeFunction"]) == len(
        run.invocations
    )
    gone = [v for v in result.verdicts if ":::pgcdc-gone-" in v.request.resource]
    assert gone and {(v.role, v.decision) for v in gone} == {
        (roles["transform"], Decision.IMPLICIT_DENY)
    }
    refused = [v.describe() for v in result.refused() if v not in gone]
    assert not refused, refused
