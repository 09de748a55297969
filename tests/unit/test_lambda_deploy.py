"""`slaflow deploy lambda` against moto's server (Lambda, IAM, EC2 and S3 APIs on 127.0.0.1): functions
created once, a re-deploy that changes nothing, a changed configuration set, a drifted memory size, the
VPC settings, and --dry-run calling nothing."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from django.core.management import CommandError, call_command

from orchestrator.deploy import package as package_mod
from tests.lambda_support import FAKE_AWS, fake_client, moto_server

ROLE_POLICY = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
)


@pytest.fixture(scope="module")
def moto():
    with moto_server() as url:
        yield url


@pytest.fixture(scope="module")
def code(tmp_path_factory):
    """slaflow's code as the deployment zip (no dependencies: the tests do not reach PyPI), built once."""
    path = tmp_path_factory.mktemp("pkg") / "slaflow.zip"
    path.write_bytes(package_mod.build(deps="none").data)
    return path


@pytest.fixture
def aws(moto, settings, monkeypatch):
    for k, v in FAKE_AWS.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("DATABASE_URL", "postgres://slaflow@db.internal:5432/slaflow")
    monkeypatch.setenv("REDIS_URL", "redis://redis.internal:6379/0")
    settings.SLAFLOW_LAMBDA_ENDPOINT_URL = moto
    settings.SLAFLOW_LAMBDA_FUNCTION_PREFIX = "sf-test"
    lam = fake_client("lambda", moto)
    for fn in lam.list_functions()["Functions"]:
        lam.delete_function(FunctionName=fn["FunctionName"])
    iam = fake_client("iam", moto)
    try:
        role = iam.get_role(RoleName="slaflow-lambda")["Role"]["Arn"]
    except iam.exceptions.NoSuchEntityException:
        role = iam.create_role(RoleName="slaflow-lambda", AssumeRolePolicyDocument=ROLE_POLICY)["Role"]["Arn"]
    settings.SLAFLOW_LAMBDA_ROLE_ARN = role
    return lam


def deploy(*args) -> str:
    out = io.StringIO()
    call_command("deploy", "lambda", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_the_package_is_reproducible_and_holds_the_handler(code):
    again = package_mod.build(deps="none")
    assert again.data == code.read_bytes()  # same code, same bytes, same CodeSha256: re-deploys change nothing
    names = zipfile.ZipFile(code).namelist()
    assert "workers/lambda_handler.py" in names and "orchestrator/settings.py" in names
    assert not [n for n in names if "__pycache__" in n or n.startswith("tests/")]


def test_deploy_creates_then_changes_nothing_then_follows_the_configurations(aws, settings, code):
    settings.SLAFLOW_LAMBDA_CONFIGS = (512, 1024)
    first = deploy("--package", str(code))
    assert "create    sf-test-512" in first and "create    sf-test-1024" in first and "2 created" in first
    conf = aws.get_function_configuration(FunctionName="sf-test-512")
    assert (conf["MemorySize"], conf["Timeout"], conf["Handler"], conf["Role"]) == (
        512,
        900,
        "workers.lambda_handler.handler",
        settings.SLAFLOW_LAMBDA_ROLE_ARN,
    )
    assert conf["Environment"]["Variables"]["REDIS_URL"] == "redis://redis.internal:6379/0"

    again = deploy("--package", str(code))
    assert "unchanged sf-test-512" in again and "unchanged sf-test-1024" in again and "2 unchanged" in again

    # 1024 leaves the Lambda executor and 2048 joins: 2048 is created, 1024 reported, then pruned
    settings.SLAFLOW_LAMBDA_CONFIGS = (512, 2048)
    moved = deploy("--package", str(code))
    assert "create    sf-test-2048" in moved and "stale     sf-test-1024" in moved
    assert aws.get_function_configuration(FunctionName="sf-test-2048")["MemorySize"] == 2048
    pruned = deploy("--package", str(code), "--prune")
    assert "delete    sf-test-1024" in pruned
    with pytest.raises(aws.exceptions.ResourceNotFoundException):
        aws.get_function(FunctionName="sf-test-1024")


def test_a_drifted_memory_size_timeout_and_environment_are_put_back(aws, settings, code):
    settings.SLAFLOW_LAMBDA_CONFIGS = (512,)
    deploy("--package", str(code))
    aws.update_function_configuration(
        FunctionName="sf-test-512",
        MemorySize=3008,
        Timeout=30,
        Environment={"Variables": {"REDIS_URL": "redis://elsewhere:6379/0"}},
    )
    out = deploy("--package", str(code), "--env", "SLAFLOW_EXTRA=1")
    assert "update    sf-test-512" in out and "memory 3008 → 512 MB" in out and "timeout 30 → 900 s" in out
    assert "REDIS_URL" in out and "redis://redis.internal" not in out  # keys named, values (secrets) never printed
    conf = aws.get_function_configuration(FunctionName="sf-test-512")
    assert (conf["MemorySize"], conf["Timeout"]) == (512, 900)
    assert conf["Environment"]["Variables"]["SLAFLOW_EXTRA"] == "1"


def test_changed_code_is_uploaded(aws, settings, code, tmp_path):
    settings.SLAFLOW_LAMBDA_CONFIGS = (512,)
    deploy("--package", str(code))
    before = aws.get_function_configuration(FunctionName="sf-test-512")["CodeSha256"]
    other = tmp_path / "other.zip"
    with zipfile.ZipFile(other, "w") as zf:
        zf.writestr("workers/lambda_handler.py", "def handler(event, context):\n    return {}\n")
    out = deploy("--package", str(other))
    assert "update    sf-test-512: code " in out
    assert aws.get_function_configuration(FunctionName="sf-test-512")["CodeSha256"] != before


def test_vpc_settings_reach_the_function(aws, settings, code, moto):
    ec2 = fake_client("ec2", moto)
    vpc = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.20.1.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName="slaflow-lambda", Description="slaflow", VpcId=vpc)["GroupId"]
    settings.SLAFLOW_LAMBDA_CONFIGS = (512,)
    settings.SLAFLOW_LAMBDA_SUBNETS = (subnet,)
    settings.SLAFLOW_LAMBDA_SECURITY_GROUPS = (group,)
    deploy("--package", str(code))
    vpc_conf = aws.get_function_configuration(FunctionName="sf-test-512")["VpcConfig"]
    assert vpc_conf["SubnetIds"] == [subnet] and vpc_conf["SecurityGroupIds"] == [group]


def test_dry_run_lists_the_functions_and_calls_nothing(aws, settings):
    settings.SLAFLOW_LAMBDA_CONFIGS = (512, 2048)
    out = deploy("--dry-run")
    assert "would create or update sf-test-512" in out and "would create or update sf-test-2048" in out
    assert "2048 MB (1.14 vCPU)" in out
    assert aws.list_functions()["Functions"] == []


def test_bad_settings_are_refused_before_anything_is_sent(aws, settings):
    settings.SLAFLOW_LAMBDA_CONFIGS = ()
    with pytest.raises(CommandError, match="SLAFLOW_LAMBDA_CONFIGS"):
        deploy("--dry-run")
    settings.SLAFLOW_LAMBDA_CONFIGS = (512,)
    settings.SLAFLOW_LAMBDA_SUBNETS = ("subnet-1",)
    with pytest.raises(CommandError, match="both SLAFLOW_LAMBDA_SUBNETS and SLAFLOW_LAMBDA_SECURITY_GROUPS"):
        deploy("--dry-run")
    settings.SLAFLOW_LAMBDA_SUBNETS = ()
    with pytest.raises(CommandError, match="KEY=VALUE"):
        deploy("--dry-run", "--env", "nope")
    with pytest.raises(CommandError, match="AWS_"):
        deploy("--dry-run", "--env", "AWS_REGION=x")
    assert aws.list_functions()["Functions"] == []


def test_a_package_over_50_mb_goes_through_the_code_bucket(aws, settings, moto, tmp_path):
    import os as _os

    fake_client("s3", moto).create_bucket(Bucket="slaflow-code")
    big = tmp_path / "big.zip"
    with zipfile.ZipFile(big, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("workers/lambda_handler.py", "def handler(event, context):\n    return {}\n")
        zf.writestr("blob.bin", _os.urandom(51 * 1024 * 1024))
    settings.SLAFLOW_LAMBDA_CONFIGS = (512,)
    settings.SLAFLOW_OBJECT_STORE_ENDPOINT_URL = moto
    with pytest.raises(CommandError, match="over the 50 MB"):
        deploy("--package", str(big), "--code-bucket", "")
    out = deploy("--package", str(big), "--code-bucket", "slaflow-code")
    assert "create    sf-test-512" in out
    keys = [o["Key"] for o in fake_client("s3", moto).list_objects_v2(Bucket="slaflow-code")["Contents"]]
    assert len(keys) == 1 and keys[0].startswith("slaflow-lambda-code/")
    assert aws.get_function_configuration(FunctionName="sf-test-512")["CodeSize"] > 50 * 1024 * 1024
