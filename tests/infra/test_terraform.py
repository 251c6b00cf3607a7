"""The Terraform of infra/: formatted, valid, its module tests pass, and the local example
applies against the moto server, shows no drift, and destroys cleanly."""

from __future__ import annotations

import json
import uuid
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.harness import S3Server
from tests.infra.conftest import INFRA, Terraform

pytestmark = pytest.mark.integration

STEPS = ("capture", "transform", "load")
SOURCE_SECRET = {
    "host": "source.example.internal",
    "port": 5432,
    "username": "pgcdc",
    "password": "not-a-real-password",
    "dbname": "shop",
}


def test_terraform_files_are_formatted(terraform: Terraform) -> None:
    result = terraform.run("fmt", "-check", "-recursive", "-diff", ".", cwd=INFRA, check=False)
    assert result.returncode == 0, f"run `terraform fmt -recursive infra`:\n{result.stdout}"


@pytest.mark.parametrize("example", ["local", "aws"])
def test_example_initialises_offline_and_validates(terraform: Terraform, example: str) -> None:
    folder = terraform.init(f"examples/{example}")
    result = terraform.run("validate", "-json", cwd=folder)
    report = json.loads(result.stdout)
    assert report["valid"], report
    assert report["warning_count"] == 0, report["diagnostics"]


def test_module_wiring_with_a_mocked_provider(terraform: Terraform) -> None:
    """``terraform test`` in the module: see infra/modules/pgcdc/tests/*.tftest.hcl."""
    folder = terraform.init("modules/pgcdc")
    result = terraform.run("test", "-no-color", cwd=folder, timeout=180)
    assert "0 failed" in result.stdout, result.stdout


# --- apply against the moto server -------------------------------------------------------


@dataclass
class Deployment:
    """The local example applied to the moto server."""

    folder: Path
    name: str
    args: list[str]
    outputs: dict[str, Any]


def _build_package(path: Path) -> Path:
    """A stand-in for the functions' zip: handlers that are never invoked here."""
    handlers = "\n\n".join(
        f"def {step}_handler(event, context):\n    return {{'step': '{step}'}}\n" for step in STEPS
    )
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("pgcdc/pipeline/__init__.py", "")
        archive.writestr("pgcdc/pipeline/handlers.py", handlers)
    return path


@pytest.fixture(scope="module")
def deployment(
    terraform: Terraform,
    s3_server: S3Server,
    sfn_endpoint: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Deployment]:
    """Apply infra/examples/local; destroy it afterwards if a test did not already."""
    folder = terraform.init("examples/local")
    package = _build_package(tmp_path_factory.mktemp("package") / "pgcdc.zip")
    name = f"pgcdc-t{uuid.uuid4().hex[:6]}"
    args = [
        "-input=false",
        "-no-color",
        f"-var=endpoint_url={s3_server.endpoint_url}",
        f"-var=sfn_endpoint_url={sfn_endpoint}",
        f"-var=package_path={package}",
        f"-var=name={name}",
        f"-var=source_secret_string={json.dumps(SOURCE_SECRET)}",
    ]
    terraform.run("apply", "-auto-approve", *args, cwd=folder)
    outputs = json.loads(terraform.run("output", "-json", cwd=folder).stdout)["pgcdc"]["value"]
    deployed = Deployment(folder, name, args, outputs)
    yield deployed
    state = terraform.run("state", "list", cwd=folder, check=False).stdout.strip()
    if state:
        terraform.run("destroy", "-auto-approve", *args, cwd=folder)


def _client(service: str, s3_server: S3Server) -> Any:
    return boto3.client(service, endpoint_url=s3_server.endpoint_url, region_name="us-east-1")


def test_buckets_are_versioned_encrypted_private_and_tls_only(
    deployment: Deployment, s3_server: S3Server
) -> None:
    s3 = _client("s3", s3_server)
    for key in ("raw_bucket_name", "processed_bucket_name"):
        bucket = deployment.outputs[key]
        assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
        encryption = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]
        default = encryption["Rules"][0]["ApplyServerSideEncryptionByDefault"]
        assert default["SSEAlgorithm"] == "aws:kms"
        block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
        assert all(block.values()) and len(block) == 4
        policy = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
        assert policy["Statement"][0]["Effect"] == "Deny"
        assert policy["Statement"][0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        lifecycle = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
        assert lifecycle[0]["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 7}
        controls = s3.get_bucket_ownership_controls(Bucket=bucket)["OwnershipControls"]
        assert controls["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]


def test_functions_have_their_handlers_settings_and_own_roles(
    deployment: Deployment, s3_server: S3Server
) -> None:
    lam = _client("lambda", s3_server)
    iam = _client("iam", s3_server)
    raw = f"s3://{deployment.outputs['raw_bucket_name']}/raw"
    processed = f"s3://{deployment.outputs['processed_bucket_name']}/processed"
    policies = {}
    for step in STEPS:
        fn = lam.get_function_configuration(FunctionName=deployment.outputs["function_names"][step])
        assert fn["Handler"] == f"pgcdc.pipeline.handlers.{step}_handler"
        assert fn["Runtime"] == "python3.12"
        assert fn["Architectures"] == ["x86_64"]
        assert fn["Role"] == deployment.outputs["function_role_arns"][step]
        env = fn["Environment"]["Variables"]
        assert env["PGCDC_RAW_URI"] == raw
        assert env["PGCDC_PROCESSED_URI"] == processed
        assert env["PGCDC_SLOT"] == "pgcdc"
        role = fn["Role"].rpartition("/")[2]
        policies[step] = iam.get_role_policy(RoleName=role, PolicyName=role)["PolicyDocument"]
        if not isinstance(policies[step], dict):  # moto may return the document URL-encoded
            policies[step] = json.loads(policies[step])
    names = deployment.outputs["function_names"]
    capture = lam.get_function_configuration(FunctionName=names["capture"])
    assert capture["Timeout"] == 900
    source = deployment.outputs["source_secret_arn"]
    warehouse = deployment.outputs["warehouse_secret_arn"]
    assert capture["Environment"]["Variables"]["PGCDC_SOURCE_SECRET_ID"] == source
    assert source in json.dumps(policies["capture"])
    assert "secretsmanager" not in json.dumps(policies["transform"])
    assert warehouse in json.dumps(policies["load"]) and source not in json.dumps(policies["load"])
    assert deployment.outputs["processed_bucket_name"] not in json.dumps(policies["capture"])
    assert deployment.outputs["raw_bucket_name"] not in json.dumps(policies["load"])


def test_source_secret_holds_the_given_value(deployment: Deployment, s3_server: S3Server) -> None:
    secrets = _client("secretsmanager", s3_server)
    value = secrets.get_secret_value(SecretId=deployment.outputs["source_secret_arn"])
    assert json.loads(value["SecretString"]) == SOURCE_SECRET
    assert secrets.describe_secret(SecretId=deployment.outputs["warehouse_secret_arn"])["Name"] == (
        f"{deployment.name}/warehouse"
    )


def test_state_machine_runs_the_three_functions(
    deployment: Deployment, s3_server: S3Server
) -> None:
    sfn = _client("stepfunctions", s3_server)
    machine = sfn.describe_state_machine(stateMachineArn=deployment.outputs["state_machine_arn"])
    definition = json.loads(machine["definition"])
    for step in STEPS:
        arn = deployment.outputs["function_arns"][step]
        assert definition["States"][step.title()]["Parameters"]["FunctionName"] == arn
    notify = definition["States"]["NotifyFailure"]["Parameters"]
    assert notify["TopicArn"] == deployment.outputs["sns_topic_arn"]
    destination = machine["loggingConfiguration"]["destinations"][0]
    assert deployment.outputs["log_group_names"]["state_machine"] in json.dumps(destination)


def test_schedule_starts_the_state_machine_every_15_minutes(
    deployment: Deployment, s3_server: S3Server
) -> None:
    scheduler = _client("scheduler", s3_server)
    schedule = scheduler.get_schedule(Name=f"{deployment.name}-pipeline", GroupName="default")
    assert schedule["ScheduleExpression"] == "rate(15 minutes)"
    assert schedule["State"] == "ENABLED"
    assert schedule["Target"]["Arn"] == deployment.outputs["state_machine_arn"]
    assert schedule["Target"]["RetryPolicy"] == {
        "MaximumRetryAttempts": 3,
        "MaximumEventAgeInSeconds": 600,
    }


def test_alerts_logs_metric_filters_and_alarms(deployment: Deployment, s3_server: S3Server) -> None:
    topic = deployment.outputs["sns_topic_arn"]
    sns = _client("sns", s3_server)
    attributes = sns.get_topic_attributes(TopicArn=topic)["Attributes"]
    assert attributes["KmsMasterKeyId"] == deployment.outputs["alerts_kms_key_arn"]
    subscriptions = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    assert [(s["Protocol"], s["Endpoint"]) for s in subscriptions] == [
        ("email", "alerts@example.com")
    ]

    logs = _client("logs", s3_server)
    for group in deployment.outputs["log_group_names"].values():
        found = logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"]
        assert [(g["logGroupName"], g["retentionInDays"]) for g in found] == [(group, 30)]
    patterns: dict[str, set[str]] = {}
    for step in STEPS:
        group = deployment.outputs["log_group_names"][step]
        for flt in logs.describe_metric_filters(logGroupName=group)["metricFilters"]:
            patterns.setdefault(flt["metricTransformations"][0]["metricName"], set()).add(
                flt["filterPattern"]
            )
    # one filter a function, on its ERROR lines; the alarms' figures arrive as EMF documents
    assert patterns == {f"{step.title()}Errors": {'{ $.level = "ERROR" }'} for step in STEPS}

    cloudwatch = _client("cloudwatch", s3_server)
    alarms = cloudwatch.describe_alarms(AlarmNamePrefix=f"{deployment.name}-")["MetricAlarms"]
    assert sorted(a["AlarmName"] for a in alarms) == sorted(deployment.outputs["alarm_names"])
    assert len(alarms) == 6
    assert all(a["AlarmActions"] == [topic] for a in alarms)
    failed = next(a for a in alarms if a["MetricName"] == "ExecutionsFailed")
    assert failed["Dimensions"] == [
        {"Name": "StateMachineArn", "Value": deployment.outputs["state_machine_arn"]}
    ]


def test_plan_after_apply_shows_no_drift_and_destroy_removes_everything(
    deployment: Deployment, terraform: Terraform, s3_server: S3Server
) -> None:
    plan = terraform.run(
        "plan", "-detailed-exitcode", *deployment.args, cwd=deployment.folder, check=False
    )
    assert plan.returncode == 0, f"drift after apply:\n{(plan.stdout + plan.stderr)[-6000:]}"

    terraform.run("destroy", "-auto-approve", *deployment.args, cwd=deployment.folder)
    s3 = _client("s3", s3_server)
    for key in ("raw_bucket_name", "processed_bucket_name"):
        with pytest.raises(ClientError) as missing:
            s3.head_bucket(Bucket=deployment.outputs[key])
        assert missing.value.response["Error"]["Code"] == "404"
    functions = _client("lambda", s3_server).list_functions()["Functions"]
    assert not [f for f in functions if f["FunctionName"].startswith(f"{deployment.name}-")]
