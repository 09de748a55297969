"""The object-store tier: big outputs in an S3-compatible bucket, for executors that share no host.

A Lambda function has no host of its own that others can reach: neither a shared-memory file nor a
data server outlives its invocation. With ``SLAFLOW_OBJECT_STORE_BUCKET`` set and a configuration on
the Lambda executor, an output that travels and is at least ``SLAFLOW_OBJECT_STORE_MIN_BYTES`` is put
once into the bucket (``SLAFLOW_OBJECT_STORE_ENDPOINT_URL`` for a non-AWS store, e.g. MinIO or moto)
under ``<deployment>/r<run>/<name>``, and the run's outputs hash keeps an *object record* (a marker no
encoded value or host location starts with, then compact JSON ``{"k": key, "n": size, "c": checksum}``).
Any reader, on Celery or on Lambda, gets the object and checks its size and xxHash3 checksum. The run's
objects are deleted when its data is (``store.tiers.OutputStore.drop_run``).

The bucket, its endpoint and the key layout are operator settings and slaflow's own names: nothing a
REST user sends reaches them (node ids are quoted into the key's last part).
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from store.shm import StoreError, checksum

MARK = b"\x00sf-obj\x00"
_clients: dict[tuple, object] = {}
_lock = threading.Lock()


@dataclass(frozen=True)
class ObjectRecord:
    key: str
    size: int
    checksum: str

    def encode(self) -> bytes:
        return MARK + json.dumps({"k": self.key, "n": self.size, "c": self.checksum}, separators=(",", ":")).encode()


def decode(raw: Any) -> ObjectRecord | None:
    """The object record in ``raw`` (an entry of the outputs hash), or None when it is something else."""
    if raw is None or raw[: len(MARK)] != MARK:
        return None
    body = json.loads(bytes(raw[len(MARK) :]))
    return ObjectRecord(key=body["k"], size=int(body["n"]), checksum=body["c"])


@dataclass(frozen=True)
class Bucket:
    name: str
    endpoint_url: str | None
    region: str
    prefix: str  # the deployment's directory: runs of two deployments never meet

    def client(self):
        key = (os.getpid(), self.endpoint_url, self.region)
        got = _clients.get(key)
        if got is None:
            import boto3
            from botocore.config import Config

            with _lock:
                got = _clients.get(key) or boto3.session.Session().client(
                    "s3",
                    region_name=self.region,
                    endpoint_url=self.endpoint_url,
                    config=Config(max_pool_connections=32, retries={"max_attempts": 5, "mode": "standard"}),
                )
                _clients[key] = got
        return got

    def run_prefix(self, run_id: int) -> str:
        return f"{self.prefix}/r{int(run_id)}/"

    def put(self, run_id: int, node_id: str, data: Any) -> ObjectRecord:
        key = self.run_prefix(run_id) + quote(node_id, safe="")
        body = bytes(data)
        digest = checksum(body)
        self.client().put_object(Bucket=self.name, Key=key, Body=body, Metadata={"xxh3": digest})
        return ObjectRecord(key, len(body), digest)

    def get(self, record: ObjectRecord) -> bytes:
        try:
            body = self.client().get_object(Bucket=self.name, Key=record.key)["Body"].read()
        except Exception as exc:
            raise StoreError(f"object {record.key} of bucket {self.name!r} could not be read: {exc}") from exc
        if len(body) != record.size or checksum(body) != record.checksum:
            raise StoreError(
                f"object {record.key} of bucket {self.name!r} is not what was written "
                f"({len(body)} bytes, expected {record.size} with checksum {record.checksum})"
            )
        return body

    def drop_run(self, run_id: int) -> int:
        """Delete the run's objects; how many."""
        s3, deleted = self.client(), 0
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=self.name, Prefix=self.run_prefix(run_id))
        for page in pages:
            doomed = [{"Key": o["Key"]} for o in page.get("Contents", [])]
            for i in range(0, len(doomed), 1000):
                s3.delete_objects(Bucket=self.name, Delete={"Objects": doomed[i : i + 1000], "Quiet": True})
                deleted += len(doomed[i : i + 1000])
        return deleted
