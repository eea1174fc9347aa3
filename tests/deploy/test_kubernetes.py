"""Tests of the Kubernetes manifests in deploy/k8s/.

Built-in kinds are validated offline against the Kubernetes JSON schemas that
the kubernetes-validate package bundles, in strict mode (unknown fields fail).
That package bundles no schema for the custom resources (PodMonitor,
PrometheusRule, ScaledObject, TriggerAuthentication), so those are checked
structurally here, on the fields the service depends on.
"""

from __future__ import annotations

import importlib.util
import sys

import kubernetes_validate
import pytest
import yaml
from deploy_support import DEPLOY_DIR, REPOSITORY

from stream.config import ENV_PREFIX, ServiceSettings

K8S_DIR = DEPLOY_DIR / "k8s"
MANIFEST_FILES = sorted(path for path in K8S_DIR.glob("*.yaml") if path.name != "kustomization.yaml")
BUILT_IN_KINDS = {"ConfigMap", "Secret", "Deployment", "Service"}
CUSTOM_KINDS = {
    "PodMonitor": "monitoring.coreos.com/v1",
    "PrometheusRule": "monitoring.coreos.com/v1",
    "ScaledObject": "keda.sh/v1alpha1",
    "TriggerAuthentication": "keda.sh/v1alpha1",
}
# An older Kubernetes minor version that clusters still run, and the newest one the package bundles.
KUBERNETES_VERSIONS = ["1.30.0", kubernetes_validate.latest_version()]
INPUT_PARTITIONS_IN_COMPOSE = 3


def load_resources() -> list[dict]:
    resources = []
    for path in MANIFEST_FILES:
        resources.extend(document for document in yaml.safe_load_all(path.read_text(encoding="utf-8")) if document)
    return resources


def resource(kind: str) -> dict:
    matches = [document for document in load_resources() if document["kind"] == kind]
    assert len(matches) == 1, f"expected one {kind}, found {len(matches)}"
    return matches[0]


def load_generator() -> object:
    spec = importlib.util.spec_from_file_location("k8s_generate", K8S_DIR / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def container() -> dict:
    return resource("Deployment")["spec"]["template"]["spec"]["containers"][0]


def environment() -> dict[str, dict]:
    return {variable["name"]: variable for variable in container()["env"]}


def test_manifests_have_expected_kinds() -> None:
    kinds = sorted(document["kind"] for document in load_resources())
    assert kinds == sorted(BUILT_IN_KINDS | set(CUSTOM_KINDS))


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("kind", sorted(BUILT_IN_KINDS))
def test_built_in_resource_matches_schema(kind: str, version: str) -> None:
    kubernetes_validate.validate(resource(kind), version, strict=True)


@pytest.mark.parametrize("kind", sorted(CUSTOM_KINDS))
def test_custom_resource_structure(kind: str) -> None:
    document = resource(kind)
    assert document["apiVersion"] == CUSTOM_KINDS[kind]
    assert document["metadata"]["name"]
    assert set(document) == {"apiVersion", "kind", "metadata", "spec"}
    assert isinstance(document["spec"], dict) and document["spec"]


def test_kustomization_lists_manifests() -> None:
    kustomization = yaml.safe_load((K8S_DIR / "kustomization.yaml").read_text(encoding="utf-8"))
    listed = set(kustomization["resources"])
    # The Secret contains placeholders, so it is created out of band.
    assert listed == {path.name for path in MANIFEST_FILES} - {"secret.yaml"}


def test_generated_manifests_are_current() -> None:
    generator = load_generator()
    for path, text in generator.generated_manifests().items():  # type: ignore[attr-defined]
        assert path.read_text(encoding="utf-8") == text, f"{path.name} is out of date; run deploy/k8s/generate.py"


def test_rules_configmap_equals_shipped_rules() -> None:
    shipped_dir = REPOSITORY / "stream" / "rules" / "shipped"
    shipped = {path.name: path.read_text(encoding="utf-8") for path in shipped_dir.glob("*.toml")}
    assert shipped
    assert resource("ConfigMap")["data"] == shipped


def test_prometheus_rule_equals_alert_groups() -> None:
    alerts = yaml.safe_load((DEPLOY_DIR / "prometheus" / "alerts.yml").read_text(encoding="utf-8"))
    assert resource("PrometheusRule")["spec"]["groups"] == alerts["groups"]


def test_deployment_security_context() -> None:
    pod = resource("Deployment")["spec"]["template"]["spec"]
    security = container()["securityContext"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001, "the Dockerfile's user id"
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]


def test_deployment_probes_and_resources() -> None:
    spec = container()
    assert spec["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert spec["startupProbe"]["httpGet"]["path"] == "/healthz"
    assert spec["readinessProbe"]["httpGet"]["path"] == "/readyz"
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        assert spec[probe]["httpGet"]["port"] == "metrics"
    assert {port["name"]: port["containerPort"] for port in spec["ports"]} == {"metrics": 9464}
    assert set(spec["resources"]["requests"]) == {"cpu", "memory"}
    assert set(spec["resources"]["limits"]) == {"cpu", "memory"}


def test_deployment_mounts_rules_configmap() -> None:
    pod = resource("Deployment")["spec"]["template"]["spec"]
    mounts = {mount["name"]: mount for mount in container()["volumeMounts"]}
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    assert mounts["rules"]["mountPath"] == "/etc/eql-stream/rules"
    assert volumes["rules"]["configMap"]["name"] == resource("ConfigMap")["metadata"]["name"]
    assert environment()["EQL_STREAM_RULES"]["value"] == "/etc/eql-stream/rules"
    assert mounts["tmp"]["mountPath"] == "/tmp", "the read-only root filesystem needs a writable /tmp"


def test_deployment_environment_names_are_settings() -> None:
    known = {f"{ENV_PREFIX}{name.upper()}" for name in ServiceSettings.model_fields}
    service_variables = {name for name in environment() if name.startswith(ENV_PREFIX)}
    assert service_variables <= known, f"unknown settings: {sorted(service_variables - known)}"


def test_deployment_credentials_come_from_secret() -> None:
    secret = resource("Secret")
    variables = environment()
    for name in ("KAFKA_SASL_USERNAME", "KAFKA_SASL_PASSWORD"):
        reference = variables[name]["valueFrom"]["secretKeyRef"]
        assert reference["name"] == secret["metadata"]["name"]
        assert reference["key"] in secret["stringData"]
    kafka_config = variables["EQL_STREAM_KAFKA_CONFIG"]["value"]
    assert "sasl.password=$(KAFKA_SASL_PASSWORD)" in kafka_config.split(";")


def test_trigger_authentication_keys_exist_in_secret() -> None:
    secret = resource("Secret")
    for reference in resource("TriggerAuthentication")["spec"]["secretTargetRef"]:
        assert reference["name"] == secret["metadata"]["name"]
        assert reference["key"] in secret["stringData"], f"KEDA parameter {reference['parameter']}"


def test_service_and_pod_monitor_select_pods() -> None:
    pod_labels = resource("Deployment")["spec"]["template"]["metadata"]["labels"]
    service = resource("Service")["spec"]
    monitor = resource("PodMonitor")["spec"]
    assert service["selector"].items() <= pod_labels.items()
    assert monitor["selector"]["matchLabels"].items() <= pod_labels.items()
    assert monitor["podMetricsEndpoints"][0]["port"] == "metrics"
    # The alert rules select job="eql-stream".
    assert pod_labels[monitor["jobLabel"]] == "eql-stream"


def test_scaled_object_targets_deployment_group() -> None:
    scaled = resource("ScaledObject")["spec"]
    trigger = scaled["triggers"][0]
    variables = environment()
    assert scaled["scaleTargetRef"]["name"] == resource("Deployment")["metadata"]["name"]
    assert trigger["type"] == "kafka"
    assert trigger["metadata"]["consumerGroup"] == variables["EQL_STREAM_GROUP_ID"]["value"]
    assert trigger["metadata"]["topic"] == variables["EQL_STREAM_INPUT_TOPICS"]["value"]
    assert trigger["authenticationRef"]["name"] == resource("TriggerAuthentication")["metadata"]["name"]
    assert 1 <= scaled["minReplicaCount"] <= scaled["maxReplicaCount"]


def test_replicas_at_most_partitions() -> None:
    """The examples assume 3 input partitions, as the compose set-up creates."""
    compose = yaml.safe_load((DEPLOY_DIR / "docker-compose.yml").read_text(encoding="utf-8"))
    partitions = int(compose["services"]["kafka-topics"]["environment"]["INPUT_PARTITIONS"])
    assert partitions == INPUT_PARTITIONS_IN_COMPOSE
    assert resource("ScaledObject")["spec"]["maxReplicaCount"] <= partitions
    # Kubernetes runs one replica when the Deployment does not set replicas.
    assert resource("Deployment")["spec"].get("replicas", 1) <= partitions


def test_deployment_leaves_replicas_to_keda() -> None:
    """A replicas value would reset KEDA's replica count at every kubectl apply."""
    kustomization = yaml.safe_load((K8S_DIR / "kustomization.yaml").read_text(encoding="utf-8"))
    assert "keda-scaledobject.yaml" in kustomization["resources"]
    assert "replicas" not in resource("Deployment")["spec"]
