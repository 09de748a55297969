"""``slaflow deploy lambda``: one Lambda function per configuration on the Lambda executor, created or
brought up to date idempotently.

``desired()`` says what each function should be, from the operator's settings only: its name
(``router.function_for``), memory (the configuration's), timeout, role, handler, runtime, VPC subnets and
security groups (Lambda must reach Redis and Postgres), and the environment the handler needs (the
database and Redis URLs and every ``SLAFLOW_*`` setting of this deployment; ``EXCLUDED`` ones are for the
deploying side only). ``plan()`` compares that with what Lambda has (``get_function``) and ``apply()``
makes the changes: create, update the configuration, update the code (the zip's ``CodeSha256`` or the
image differs), each waited on until Lambda has finished the update. Functions named like ours whose
configuration is no longer on the Lambda executor are reported, and deleted with ``prune``.

What is printed names environment *keys* that change, never their values (they hold passwords).
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass, field

from django.conf import settings

from orchestrator.core import resources, router

HANDLER = "workers.lambda_handler.handler"
# Settings of the deploying side, not of the functions; and ones Lambda sets itself.
EXCLUDED = {
    "SLAFLOW_LAMBDA_ROLE_ARN",
    "SLAFLOW_LAMBDA_SUBNETS",
    "SLAFLOW_LAMBDA_SECURITY_GROUPS",
    "SLAFLOW_LAMBDA_RUNTIME",
    "SLAFLOW_WORKER_MEMORY_MB",
    "SLAFLOW_LAMBDA_LOCAL",
}
PASSED = ("DATABASE_URL", "REDIS_URL", "DJANGO_SECRET_KEY", "DJANGO_SETTINGS_MODULE", "SLAFLOW_MODE")
CODE_KEY_PREFIX = "slaflow-lambda-code/"


class DeployError(RuntimeError):
    pass


@dataclass
class FunctionSpec:
    name: str
    memory_mb: int
    timeout_s: int
    role: str
    runtime: str
    environment: dict[str, str]
    subnets: tuple[str, ...] = ()
    security_groups: tuple[str, ...] = ()
    image_uri: str = ""

    def configuration(self) -> dict:
        """The UpdateFunctionConfiguration arguments."""
        conf = {
            "FunctionName": self.name,
            "MemorySize": self.memory_mb,
            "Timeout": self.timeout_s,
            "Role": self.role,
            "Environment": {"Variables": dict(self.environment)},
            "VpcConfig": {"SubnetIds": list(self.subnets), "SecurityGroupIds": list(self.security_groups)},
        }
        if not self.image_uri:
            conf.update(Handler=HANDLER, Runtime=self.runtime)
        return conf

    def summary(self) -> str:
        vpc = (
            f"VPC subnets {', '.join(self.subnets)}, security groups {', '.join(self.security_groups)}"
            if self.subnets
            else "no VPC"
        )
        code = f"image {self.image_uri}" if self.image_uri else f"{self.runtime}, handler {HANDLER}"
        return (
            f"{self.memory_mb} MB ({resources.ResourceConfig(self.memory_mb).cpus} vCPU), timeout "
            f"{self.timeout_s} s, {code}, role {self.role or '(none set)'}, {vpc}, environment "
            f"{', '.join(sorted(self.environment)) or '(empty)'}"
        )


@dataclass
class Change:
    action: str  # create, update, unchanged, stale, delete
    name: str
    details: list[str] = field(default_factory=list)
    spec: FunctionSpec | None = None
    configuration: bool = False
    code: bool = False

    def line(self) -> str:
        head = {"create": "create", "update": "update", "unchanged": "unchanged", "stale": "stale", "delete": "delete"}[
            self.action
        ]
        return f"{head:9} {self.name}" + (": " + "; ".join(self.details) if self.details else "")


def function_environment(extra: dict[str, str] | None = None) -> dict[str, str]:
    """What the handler needs to join this deployment: the services' URLs and every ``SLAFLOW_*`` setting."""
    env = {k: v for k, v in os.environ.items() if (k.startswith("SLAFLOW_") and k not in EXCLUDED) or k in PASSED}
    env.update(extra or {})
    bad = [k for k in env if k.startswith("AWS_") or not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", k)]
    if bad:
        raise DeployError(f"environment keys Lambda does not allow: {', '.join(sorted(bad))} (AWS_* are reserved)")
    return env


def desired(
    *,
    role: str | None = None,
    timeout_s: int | None = None,
    image_uri: str = "",
    extra_env: dict[str, str] | None = None,
) -> list[FunctionSpec]:
    """One function per configuration on the Lambda executor (``SLAFLOW_LAMBDA_CONFIGS``)."""
    configs = resources.lambda_configured()
    if not configs:
        raise DeployError(
            "no configuration is on the Lambda executor: set SLAFLOW_LAMBDA_CONFIGS (a subset of "
            "SLAFLOW_RESOURCE_CONFIGS)"
        )
    timeout = int(timeout_s or settings.SLAFLOW_LAMBDA_TIMEOUT_S)
    if not 1 <= timeout <= 900:
        raise DeployError(f"a Lambda function's timeout is 1-900 s, got {timeout}")
    for cfg in configs:
        if not 128 <= cfg.memory_mb <= 10240:
            raise DeployError(f"Lambda offers 128-10240 MB; the {cfg.memory_mb} MB configuration cannot be a function")
    subnets, groups = tuple(settings.SLAFLOW_LAMBDA_SUBNETS), tuple(settings.SLAFLOW_LAMBDA_SECURITY_GROUPS)
    if bool(subnets) != bool(groups):
        raise DeployError("a VPC needs both SLAFLOW_LAMBDA_SUBNETS and SLAFLOW_LAMBDA_SECURITY_GROUPS")
    env = function_environment(extra_env)
    return [
        FunctionSpec(
            router.function_for(cfg.memory_mb),
            cfg.memory_mb,
            timeout,
            role if role is not None else settings.SLAFLOW_LAMBDA_ROLE_ARN,
            settings.SLAFLOW_LAMBDA_RUNTIME,
            env,
            subnets,
            groups,
            image_uri,
        )
        for cfg in configs
    ]


def client():
    import boto3

    return boto3.session.Session().client(
        "lambda", region_name=settings.SLAFLOW_AWS_REGION, endpoint_url=settings.SLAFLOW_LAMBDA_ENDPOINT_URL
    )


def s3_client():
    """For a package over 50 MB: S3 (``SLAFLOW_OBJECT_STORE_ENDPOINT_URL`` when it is not AWS's)."""
    import boto3

    return boto3.session.Session().client(
        "s3", region_name=settings.SLAFLOW_AWS_REGION, endpoint_url=settings.SLAFLOW_OBJECT_STORE_ENDPOINT_URL
    )


def _differences(current: dict, spec: FunctionSpec) -> list[str]:
    out = []
    if current.get("MemorySize") != spec.memory_mb:
        out.append(f"memory {current.get('MemorySize')} → {spec.memory_mb} MB")
    if current.get("Timeout") != spec.timeout_s:
        out.append(f"timeout {current.get('Timeout')} → {spec.timeout_s} s")
    if current.get("Role") != spec.role:
        out.append(f"role {current.get('Role')} → {spec.role}")
    if not spec.image_uri:
        if current.get("Handler") != HANDLER:
            out.append(f"handler {current.get('Handler')} → {HANDLER}")
        if current.get("Runtime") != spec.runtime:
            out.append(f"runtime {current.get('Runtime')} → {spec.runtime}")
    have = (current.get("Environment") or {}).get("Variables") or {}
    changed = sorted(k for k in set(have) | set(spec.environment) if have.get(k) != spec.environment.get(k))
    if changed:
        out.append("environment " + ", ".join(changed))
    vpc = current.get("VpcConfig") or {}
    if set(vpc.get("SubnetIds") or ()) != set(spec.subnets) or set(vpc.get("SecurityGroupIds") or ()) != set(
        spec.security_groups
    ):
        out.append(
            f"VPC subnets {sorted(vpc.get('SubnetIds') or [])} → {sorted(spec.subnets)}, security groups "
            f"{sorted(vpc.get('SecurityGroupIds') or [])} → {sorted(spec.security_groups)}"
        )
    return out


def plan(lam, specs: list[FunctionSpec], code_sha: str | None) -> list[Change]:
    """What ``apply`` would do, from what Lambda has now (``code_sha``: the zip's; None for an image)."""
    changes = []
    for spec in specs:
        try:
            got = lam.get_function(FunctionName=spec.name)
        except lam.exceptions.ResourceNotFoundException:
            changes.append(Change("create", spec.name, [spec.summary()], spec, True, True))
            continue
        current = got["Configuration"]
        details = _differences(current, spec)
        if spec.image_uri:
            code = (got.get("Code") or {}).get("ImageUri") != spec.image_uri
        else:
            code = current.get("CodeSha256") != code_sha
        if code:
            details.append(
                "code "
                + (f"→ image {spec.image_uri}" if spec.image_uri else f"{current.get('CodeSha256')} → {code_sha}")
            )
        changes.append(
            Change(
                "update" if details else "unchanged", spec.name, details, spec, bool(_differences(current, spec)), code
            )
        )
    wanted = {s.name for s in specs}
    pattern = re.compile(re.escape(settings.SLAFLOW_LAMBDA_FUNCTION_PREFIX) + r"-\d+")
    for page in lam.get_paginator("list_functions").paginate():
        for fn in page.get("Functions", []):
            name = fn["FunctionName"]
            if pattern.fullmatch(name) and name not in wanted:
                changes.append(
                    Change("stale", name, ["its configuration is not in SLAFLOW_LAMBDA_CONFIGS (--prune deletes it)"])
                )
    return changes


def _wait_updated(lam, name: str, timeout_s: float = 300.0) -> None:
    """Lambda takes one update at a time: wait until the last one is done."""
    end = time.monotonic() + timeout_s
    while True:
        conf = lam.get_function_configuration(FunctionName=name)
        status, state = conf.get("LastUpdateStatus"), conf.get("State")
        if status == "Failed" or state == "Failed":
            reason = conf.get("LastUpdateStatusReason") or conf.get("StateReason")
            raise DeployError(f"{name}: Lambda failed the update: {reason}")
        if status in (None, "Successful") and state in (None, "Active", "Inactive"):
            return
        if time.monotonic() > end:
            raise DeployError(f"{name}: still {state}/{status} after {timeout_s:g} s")
        time.sleep(1.0)


def _code(package, s3, bucket: str | None) -> dict:
    """Where the code comes from: the zip itself, or (over 50 MB) an object in ``bucket``."""
    from orchestrator.deploy.package import DIRECT_UPLOAD_MAX

    if len(package.data) <= DIRECT_UPLOAD_MAX:
        return {"ZipFile": package.data}
    if not bucket:
        raise DeployError(
            f"the package is {len(package.data) / 1e6:.0f} MB, over the 50 MB Lambda takes directly: "
            "give --code-bucket (or set SLAFLOW_OBJECT_STORE_BUCKET)"
        )
    key = CODE_KEY_PREFIX + package.sha256.replace("/", "_").replace("+", "-") + ".zip"
    s3.put_object(Bucket=bucket, Key=key, Body=package.data)
    return {"S3Bucket": bucket, "S3Key": key}


def apply(
    lam, changes: list[Change], package=None, *, prune: bool = False, s3=None, bucket: str | None = None, out=print
) -> list[Change]:
    """Make the changes; prints (``out``) one line per function as it is done. Returns what was done."""
    done = []
    for ch in changes:
        spec = ch.spec
        if ch.action == "create":
            if not spec.role:
                raise DeployError(f"{spec.name}: no execution role: set SLAFLOW_LAMBDA_ROLE_ARN or give --role")
            args = spec.configuration()
            if spec.image_uri:
                args.update(PackageType="Image", Code={"ImageUri": spec.image_uri})
            else:
                args.update(PackageType="Zip", Code=_code(package, s3, bucket))
            lam.create_function(**args, Description="slaflow executor (slaflow deploy lambda)")
            _wait_updated(lam, spec.name)
        elif ch.action == "update":
            if ch.configuration:
                lam.update_function_configuration(**spec.configuration())
                _wait_updated(lam, spec.name)
            if ch.code:
                code = {"ImageUri": spec.image_uri} if spec.image_uri else _code(package, s3, bucket)
                lam.update_function_code(FunctionName=spec.name, **code)
                _wait_updated(lam, spec.name)
        elif ch.action == "stale" and prune:
            lam.delete_function(FunctionName=ch.name)
            ch = Change("delete", ch.name, ["its configuration is no longer on the Lambda executor"])
        out(ch.line())
        done.append(ch)
    return done
