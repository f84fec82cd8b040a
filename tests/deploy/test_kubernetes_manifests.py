"""deploy/kubernetes: valid against the Kubernetes schemas (offline), and wired the way it says."""

from __future__ import annotations

import pytest
from kubernetes_validate import validate
from kubernetes_validate.utils import latest_version

from tests.deploy.helpers import documented_settings, entrypoint_roles, kubernetes_resources

# The oldest Kubernetes release still maintained when these were written, and the newest known.
VERSIONS = ("1.29.0", latest_version())


@pytest.fixture(scope="module")
def resources() -> list[dict]:
    return kubernetes_resources()


def of_kind(resources: list[dict], kind: str) -> dict[str, dict]:
    return {r["metadata"]["name"]: r for r in resources if r["kind"] == kind}


def pod_specs(resources: list[dict]) -> dict[str, dict]:
    return {
        name: r["spec"]["template"]["spec"]
        for kind in ("Deployment", "Job")
        for name, r in of_kind(resources, kind).items()
    }


def matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())


@pytest.mark.parametrize("version", VERSIONS)
def test_every_manifest_is_valid_against_the_kubernetes_schemas(resources, version):
    kinds = sorted(r["kind"] for r in resources)
    assert kinds == sorted(
        ["Namespace", "ConfigMap", "Secret", "Job", "Deployment", "Deployment", "Deployment", "Service", "Service",
         "HorizontalPodAutoscaler", "HorizontalPodAutoscaler", "PodDisruptionBudget", "PodDisruptionBudget",
         "Ingress"]
    )  # fmt: skip
    for resource in resources:
        validate(resource, version, strict=True)  # unknown fields too: a typo is never ignored


def test_there_is_exactly_one_beat_and_it_is_never_two_even_during_a_rollout(resources):
    beat = of_kind(resources, "Deployment")["flagplane-beat"]
    assert beat["spec"]["replicas"] == 1
    assert beat["spec"]["strategy"] == {"type": "Recreate"}
    assert all(
        h["spec"]["scaleTargetRef"]["name"] != "flagplane-beat"
        for h in of_kind(resources, "HorizontalPodAutoscaler").values()
    )


def test_web_and_worker_scale_with_an_autoscaler_and_a_disruption_budget(resources):
    deployments = of_kind(resources, "Deployment")
    scaled = {h["spec"]["scaleTargetRef"]["name"] for h in of_kind(resources, "HorizontalPodAutoscaler").values()}
    assert scaled == {"flagplane-web", "flagplane-worker"}
    for budget in of_kind(resources, "PodDisruptionBudget").values():
        selector = budget["spec"]["selector"]["matchLabels"]
        covered = [n for n, d in deployments.items() if matches(selector, d["spec"]["template"]["metadata"]["labels"])]
        assert len(covered) == 1 and covered[0] in scaled, budget["metadata"]["name"]


def test_the_web_pods_are_probed_on_healthz_and_readyz(resources):
    [web] = pod_specs(resources)["flagplane-web"]["containers"]
    ports = {port["name"] for port in web["ports"]}
    assert web["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert web["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert web["startupProbe"]["httpGet"]["path"] == "/healthz"
    assert {web[p]["httpGet"]["port"] for p in ("readinessProbe", "livenessProbe", "startupProbe")} <= ports


def test_every_pod_runs_unprivileged_on_a_read_only_root_with_a_writable_tmp(resources):
    for name, spec in pod_specs(resources).items():
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        for container in spec["containers"]:
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] is True and context["allowPrivilegeEscalation"] is False, name
            assert context["capabilities"]["drop"] == ["ALL"], name
            assert "/tmp" in {mount["mountPath"] for mount in container["volumeMounts"]}, name


def test_every_container_runs_a_role_of_the_image_with_the_configmap_and_the_secret(resources):
    config_maps, secrets = of_kind(resources, "ConfigMap"), of_kind(resources, "Secret")
    roles = {}
    for name, spec in pod_specs(resources).items():
        for container in spec["containers"]:
            assert container["image"].startswith("registry.example.com/flagplane:"), name
            roles[name] = container["args"][0]
            sources = container["envFrom"]
            assert {s["configMapRef"]["name"] for s in sources if "configMapRef" in s} <= set(config_maps)
            assert {s["secretRef"]["name"] for s in sources if "secretRef" in s} <= set(secrets)
    assert roles == {
        "flagplane-web": "web",
        "flagplane-worker": "worker",
        "flagplane-beat": "beat",
        "flagplane-migrate": "migrate",
    }
    assert set(roles.values()) <= entrypoint_roles()
    assert of_kind(resources, "Job")["flagplane-migrate"]["spec"]["template"]["spec"]["restartPolicy"] == "Never"


def test_every_setting_the_manifests_set_is_documented(resources):
    keys = {key for kind in ("ConfigMap", "Secret") for r in of_kind(resources, kind).values()
            for key in {**r.get("data", {}), **r.get("stringData", {})}}  # fmt: skip
    keys |= {
        env["name"] for spec in pod_specs(resources).values() for c in spec["containers"] for env in c.get("env", [])
    }
    assert keys - documented_settings() == set()


def test_services_select_pods_and_name_their_ports(resources):
    deployments = of_kind(resources, "Deployment")
    for name, service in of_kind(resources, "Service").items():
        [target] = [
            d
            for d in deployments.values()
            if matches(service["spec"]["selector"], d["spec"]["template"]["metadata"]["labels"])
        ]
        container_ports = {
            p["name"] for c in target["spec"]["template"]["spec"]["containers"] for p in c.get("ports", [])
        }
        assert {p["targetPort"] for p in service["spec"]["ports"]} <= container_ports, name


def test_the_ingress_keeps_sdk_streams_open_and_routes_no_operational_endpoint(resources):
    [ingress] = of_kind(resources, "Ingress").values()
    annotations = ingress["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/proxy-buffering"] == "off"
    assert int(annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"]) >= 3600
    assert int(annotations["nginx.ingress.kubernetes.io/proxy-send-timeout"]) >= 3600
    services = of_kind(resources, "Service")
    paths = [path for rule in ingress["spec"]["rules"] for path in rule["http"]["paths"]]
    for path in paths:
        backend = path["backend"]["service"]
        assert backend["port"]["name"] in {p["name"] for p in services[backend["name"]]["spec"]["ports"]}

    def routed(url_path: str) -> bool:
        return any(
            url_path == p["path"]
            if p["pathType"] == "Exact"
            else url_path == p["path"] or url_path.startswith(p["path"] + "/")
            for p in paths
        )

    assert routed("/api/v1/sdk/stream") and routed("/admin/") and routed("/static/admin/css/base.css") and routed("/")
    assert not any(routed(p) for p in ("/metrics", "/healthz", "/readyz"))
