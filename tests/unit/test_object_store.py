"""The object-store tier (store/objects.py) against moto's S3 server: big outputs go to the bucket once a
configuration is on Lambda, any reader gets them back checked, a changed object is refused, the run's
objects go with its data; and the settings that choose executors and functions."""

from __future__ import annotations

import boto3
import numpy as np
import pytest

from orchestrator.core import codec, envconfig, resources, router
from store import dataplane, objects, tiers
from store.shm import StoreError
from tests.lambda_support import FAKE_AWS, moto_bucket
from workers import transport
from workers.canvas import branch_signature

BUCKET = "slaflow-store-tests"


@pytest.fixture(scope="module")
def s3_url():
    with moto_bucket(BUCKET) as url:
        yield url


@pytest.fixture
def bucket(s3_url, settings, monkeypatch):
    for k, v in FAKE_AWS.items():
        monkeypatch.setenv(k, v)
    settings.SLAFLOW_LAMBDA_CONFIGS = (512,)
    settings.SLAFLOW_OBJECT_STORE_BUCKET = BUCKET
    settings.SLAFLOW_OBJECT_STORE_ENDPOINT_URL = s3_url
    settings.SLAFLOW_OBJECT_STORE_MIN_BYTES = 64 * 1024
    return boto3.client("s3", endpoint_url=s3_url, region_name="us-east-1")


def _keys(s3, run_id: int) -> list[str]:
    return [
        o["Key"]
        for o in s3.list_objects_v2(Bucket=BUCKET, Prefix=tiers.deployment() + f"/r{run_id}/").get("Contents", [])
    ]


def test_big_outputs_go_to_the_bucket_small_ones_to_redis_and_come_back(bucket, run_id, redis_server):
    big = np.arange(100_000, dtype=np.float64)
    dataplane.put_output(run_id, "big/one", codec.dumps(big))
    dataplane.put_output(run_id, "small", codec.dumps(7))
    assert len(_keys(bucket, run_id)) == 1
    raw = redis_server.hget(dataplane.keys.outputs(run_id), "big/one")
    assert objects.decode(raw) is not None and len(raw) < 200  # Redis holds the record, not the bytes
    got_big, got_small = dataplane.get_outputs(run_id, ["big/one", "small"])
    assert got_big.tier == tiers.OBJECT and np.array_equal(got_big.load(), big)
    assert got_small.tier == tiers.REDIS and got_small.load() == 7
    dataplane.delete_run_data(run_id)
    assert _keys(bucket, run_id) == []


def test_an_object_changed_in_the_bucket_is_refused(bucket, run_id, redis_server):
    dataplane.put_output(run_id, "x", codec.dumps(np.ones(50_000)))
    [key] = _keys(bucket, run_id)
    bucket.put_object(Bucket=BUCKET, Key=key, Body=codec.dumps(np.zeros(50_000)))
    with pytest.raises(StoreError, match="not what was written"):
        dataplane.get_output(run_id, "x")


def test_without_a_lambda_configuration_the_bucket_is_only_read(bucket, settings, run_id):
    settings.SLAFLOW_LAMBDA_CONFIGS = ()
    dataplane.put_output(run_id, "x", codec.dumps(np.ones(50_000)))
    assert _keys(bucket, run_id) == [] and dataplane.get_output(run_id, "x").tier != tiers.OBJECT


def test_the_executor_setting_is_checked_and_routes_each_configuration(settings):
    assert envconfig.lambda_configs("", (512, 1024)) == ()
    assert envconfig.lambda_configs("1024", (512, 1024)) == (1024,)
    with pytest.raises(envconfig.ConfigError, match="SLAFLOW_LAMBDA_CONFIGS lists 3008 MB, not in"):
        envconfig.lambda_configs("3008", (512, 1024))
    with pytest.raises(envconfig.ConfigError, match="SLAFLOW_LAMBDA_FUNCTION_PREFIX"):
        envconfig.lambda_prefix("../evil")
    settings.SLAFLOW_LAMBDA_CONFIGS = (512,)
    assert (resources.executor_of(512), resources.executor_of(1024)) == (resources.LAMBDA, resources.CELERY)
    assert router.function_for(512) == "slaflow-512"


def test_a_branch_event_carries_what_the_celery_message_does():
    sig = branch_signature(7, ["a", "b"], worker="W", memory_mb=512)
    event = transport.event_of(sig, delay_s=2.0)
    assert event["task"] == router.BRANCH_TASK and event["id"] == sig.options["task_id"]
    assert event["args"] == [7, ["a", "b"]] and event["kwargs"] == {"worker": "W"}
    assert event["headers"]["memory_mb"] == 512 and event["not_before"] > event["headers"]["dispatched_at"]
    assert transport.memory_of(sig) == 512
