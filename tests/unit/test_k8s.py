"""deploy/k8s: every overlay builds with kustomize and validates offline.

Built-in kinds are checked strictly against the Kubernetes API schemas (kubernetes-validate, unknown fields
refused); KEDA's ScaledObjects and TriggerAuthentications and the Prometheus Operator's ServiceMonitor
against ``tests/data/crd_schemas.json``. Then
what the schemas cannot know: one worker Deployment per resource configuration whose requests and limits
ARE the configuration, scaled by a ScaledObject that watches that configuration's queue; secrets only from
the Secret; non-root pods; probes on /healthz.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml
from django.conf import settings

from orchestrator.core import router
from orchestrator.core.envconfig import DEFAULT_RESOURCE_CONFIGS
from orchestrator.core.resources import ResourceConfig

K8S = Path(settings.BASE_DIR) / "deploy" / "k8s"
OVERLAYS = ("all-in-one", "production")
KUBERNETES_VERSION = "1.30.0"
KEDA_KINDS = {"ScaledObject", "TriggerAuthentication"}
CRD_KINDS = KEDA_KINDS | {"ServiceMonitor"}
SECRET = "slaflow-secrets"
# the series orchestrator.prometheus exports (its module docstring's table), which the scalers' queries use
EXPORTED = set(
    re.findall(r"``(slaflow_[a-z_]+)``", (Path(settings.BASE_DIR) / "orchestrator" / "prometheus.py").read_text())
)
CRD_SCHEMAS = json.loads((Path(__file__).parent.parent / "data" / "crd_schemas.json").read_text())


def build(overlay: str) -> list[dict]:
    kubectl = shutil.which("kubectl")
    assert kubectl, "kubectl (with kustomize v4+) is needed: scripts/system-deps kubectl"
    out = subprocess.run(
        [kubectl, "kustomize", str(K8S / "overlays" / overlay)], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    return [doc for doc in yaml.safe_load_all(out.stdout) if doc]


@pytest.fixture(scope="module", params=OVERLAYS)
def docs(request) -> list[dict]:
    return build(request.param)


def by_kind(docs: list[dict], kind: str) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def schema_errors(doc: dict) -> str | None:
    """The first schema error of a built manifest, or None."""
    try:
        if doc["kind"] in CRD_KINDS:
            jsonschema.validate(doc, {"$ref": f"#/$defs/{doc['kind']}", "$defs": CRD_SCHEMAS["$defs"]})
        else:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
    except (jsonschema.ValidationError, kubernetes_validate.ValidationError) as exc:
        return f"{doc['kind']}/{doc['metadata']['name']}: {str(exc).splitlines()[0]}"
    return None


def pod_specs(docs: list[dict]):
    for d in docs:
        if d["kind"] in ("Deployment", "StatefulSet", "Job"):
            yield d["metadata"]["name"], d["spec"]["template"]["spec"]


def env_of(container: dict) -> dict[str, str]:
    return {e["name"]: e.get("value") for e in container.get("env", [])}


def test_every_manifest_is_schema_valid(docs):
    assert {d["kind"] for d in docs} >= {"Deployment", "Service", "Job", "ConfigMap"} | KEDA_KINDS
    assert [e for e in map(schema_errors, docs) if e] == []


def test_the_validation_refuses_broken_manifests(docs):
    """The checks above can fail: a misspelt field and a KEDA metadata value that is not a string."""
    deployment = copy.deepcopy(next(d for d in docs if d["kind"] == "Deployment"))
    deployment["spec"]["template"]["spec"]["containers"][0]["resourcez"] = {}
    assert "resourcez" in schema_errors(deployment)
    scaled = copy.deepcopy(next(d for d in docs if d["kind"] == "ScaledObject"))
    scaled["spec"]["triggers"][0]["metadata"]["listLength"] = 1
    assert "is not of type 'string'" in schema_errors(scaled)
    scaled["spec"]["triggers"][0]["metadata"]["listLength"] = "1"
    assert schema_errors(scaled) is None
    del scaled["spec"]["scaleTargetRef"]
    assert "scaleTargetRef" in schema_errors(scaled)


def test_a_worker_deployment_per_configuration_whose_limits_are_the_configuration(docs):
    deployments = by_kind(docs, "Deployment")
    workers = {n: d for n, d in deployments.items() if n.startswith("slaflow-worker-")}
    assert sorted(int(n.rsplit("-", 1)[1]) for n in workers) == sorted(DEFAULT_RESOURCE_CONFIGS)
    selectors = set()
    for name, d in workers.items():
        mb = int(name.rsplit("-", 1)[1])
        container = d["spec"]["template"]["spec"]["containers"][0]
        env = env_of(container)
        assert env["SLAFLOW_QUEUE"] == router.queue_for(mb) and env["SLAFLOW_WORKER_MEMORY_MB"] == str(mb)
        assert container["command"][container["command"].index("-Q") + 1] == "$(SLAFLOW_QUEUE)"
        assert "--concurrency=1" in container["command"]
        res = container["resources"]
        assert (
            res["requests"]
            == res["limits"]
            == {"memory": f"{mb}Mi", "cpu": f"{round(ResourceConfig(mb).cpus * 1000)}m"}
        )
        selectors.add(json.dumps(d["spec"]["selector"], sort_keys=True))
        labels = d["spec"]["template"]["metadata"]["labels"]
        assert all(labels.get(k) == v for k, v in d["spec"]["selector"]["matchLabels"].items())
    assert len(selectors) == len(workers), "worker Deployments must not share a selector"


def test_each_worker_is_scaled_from_its_own_queue(docs):
    deployments = by_kind(docs, "Deployment")
    auths = by_kind(docs, "TriggerAuthentication")
    scaled = by_kind(docs, "ScaledObject")
    assert {s["spec"]["scaleTargetRef"]["name"] for s in scaled.values()} == {
        n for n in deployments if n.startswith("slaflow-worker-")
    }
    for s in scaled.values():
        target = deployments[s["spec"]["scaleTargetRef"]["name"]]
        container = target["spec"]["template"]["spec"]["containers"][0]
        queue = env_of(container)["SLAFLOW_QUEUE"]
        assert s["spec"]["minReplicaCount"] >= 1  # the pre-warm knob: at least one warm pod
        redis_triggers = [t for t in s["spec"]["triggers"] if t["type"] == "redis"]
        assert [t["metadata"]["listName"] for t in redis_triggers] == [queue]
        # waiting + running work from slaflow's /metrics, for this queue only, with series /metrics exports
        queries = [t["metadata"]["query"] for t in s["spec"]["triggers"] if t["type"] == "prometheus"]
        assert len(queries) == 1 and set(re.findall(r'queue="([^"]+)"', queries[0])) == {queue}
        assert set(re.findall(r"\bslaflow_[a-z_]+", queries[0])) == {"slaflow_queue_messages", "slaflow_queue_running"}
        assert all(name in EXPORTED for name in re.findall(r"\bslaflow_[a-z_]+", queries[0]))
        for t in redis_triggers:
            assert t["authenticationRef"]["name"] in auths
        # the address the scaler reads comes from the target container's environment (the ConfigMap)
        config = by_kind(docs, "ConfigMap")["slaflow-config"]["data"]
        assert redis_triggers[0]["metadata"]["addressFromEnv"] in config
    for a in auths.values():
        assert all(ref["name"] == SECRET for ref in a["spec"]["secretTargetRef"])


def test_secrets_only_from_the_secret_and_pods_never_root(docs):
    for name, spec in pod_specs(docs):
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        for c in spec["containers"]:
            assert c["securityContext"]["allowPrivilegeEscalation"] is False, (name, c["name"])
            for e in c.get("env", []):
                secretish = any(w in e["name"] for w in ("PASSWORD", "SECRET", "AUTH", "TOKEN"))
                literal = e.get("value") or ""
                assert not secretish or "valueFrom" in e or literal.startswith("$("), (name, e["name"])
                if "valueFrom" in e and "secretKeyRef" in e["valueFrom"]:
                    assert e["valueFrom"]["secretKeyRef"]["name"] == SECRET
            for src in c.get("envFrom", []):
                assert "secretRef" not in src or src["secretRef"]["name"] == SECRET
            assert not any("basic-auth" in part for part in c.get("command", []) + c.get("args", [])), name
    assert "Secret" not in {d["kind"] for d in docs}, "secrets are created by the operator, never shipped"


def test_web_probes_and_production_settings(docs):
    web = by_kind(docs, "Deployment")["slaflow-web"]["spec"]["template"]["spec"]["containers"][0]
    assert web["readinessProbe"]["httpGet"]["path"] == "/healthz"
    assert web["livenessProbe"]["httpGet"]["path"] == "/healthz"
    config = by_kind(docs, "ConfigMap")["slaflow-config"]["data"]
    assert config["SLAFLOW_MODE"] == "production" and config["DJANGO_DEBUG"] == "false"
    allowed = config["DJANGO_ALLOWED_HOSTS"].split(",")
    assert "*" not in allowed and "" not in allowed
    for probe in (web["readinessProbe"], web["livenessProbe"]):  # Django answers 400 to a Host it does not allow
        assert {h["name"]: h["value"] for h in probe["httpGet"]["httpHeaders"]}["Host"] in allowed
    assert by_kind(docs, "Service")["slaflow-flower"]["spec"]["type"] == "ClusterIP"


def test_all_in_one_runs_persistent_redis_with_a_password():
    docs = build("all-in-one")
    redis = by_kind(docs, "StatefulSet")["slaflow-redis"]["spec"]
    args = redis["template"]["spec"]["containers"][0]["args"]
    assert args[args.index("--appendonly") + 1] == "yes"
    assert args[args.index("--requirepass") + 1] == "$(REDIS_PASSWORD)"
    assert redis["volumeClaimTemplates"][0]["metadata"]["name"] == "data"
    assert "slaflow-postgres" in by_kind(docs, "StatefulSet")
    assert {"slaflow-redis", "slaflow-postgres"} <= set(by_kind(docs, "Service"))


def test_production_has_prometheus_scrape_metrics_with_its_token_by_an_allowed_name():
    docs = build("production")
    monitor = by_kind(docs, "ServiceMonitor")["slaflow-web"]["spec"]
    service = by_kind(docs, "Service")["slaflow-web"]
    assert all(service["metadata"]["labels"].get(k) == v for k, v in monitor["selector"]["matchLabels"].items())
    endpoint = monitor["endpoints"][0]
    assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]} and endpoint["path"] == "/metrics"
    assert endpoint["authorization"]["credentials"] == {"name": SECRET, "key": "SLAFLOW_METRICS_TOKEN"}
    address = [r["replacement"] for r in endpoint["relabelings"] if r["targetLabel"] == "__address__"][0]
    allowed = by_kind(docs, "ConfigMap")["slaflow-config"]["data"]["DJANGO_ALLOWED_HOSTS"].split(",")
    assert address.rsplit(":", 1)[0] in allowed  # Django answers 400 to a Host it does not allow
