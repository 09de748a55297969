"""Test support for the Lambda executor: moto's server (S3, Lambda, IAM, EC2 APIs) on loopback, and the
local Lambda-compatible endpoint (``localcluster.lambda_local``) as a process of its own."""

from __future__ import annotations

from contextlib import contextmanager

# local_lambda, free_port and stats are re-exported to the tests.
from localcluster.local_aws import (  # noqa: F401
    endpoint_process as local_lambda,
    free_port,
    s3_server,
    stats,
)

# moto accepts any credentials; boto3 needs some to sign. Never real ones: these tests talk to loopback only.
FAKE_AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def moto_server():
    """moto's server on 127.0.0.1 (a subprocess): a context manager giving its URL."""
    return s3_server(FAKE_AWS)


def fake_client(kind: str, url: str):
    """A boto3 client of ``kind`` for moto's server at ``url``, signed with the fake credentials."""
    import boto3

    return boto3.client(
        kind,
        endpoint_url=url,
        region_name=FAKE_AWS["AWS_DEFAULT_REGION"],
        aws_access_key_id=FAKE_AWS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=FAKE_AWS["AWS_SECRET_ACCESS_KEY"],
    )


@contextmanager
def moto_bucket(bucket: str):
    """moto's server with ``bucket`` made: a context manager giving its URL."""
    with moto_server() as url:
        fake_client("s3", url).create_bucket(Bucket=bucket)
        yield url
