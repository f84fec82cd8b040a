"""deploy/compose.yaml: `docker compose config` passes; one image in four roles, exactly one beat,
everything after the migrations and healthy dependencies."""

from __future__ import annotations

import pytest

from tests.deploy.helpers import compose_config, documented_settings, entrypoint_roles, resolved_compose


@pytest.fixture(scope="module")
def services() -> dict[str, dict]:
    return resolved_compose()["services"]


def test_docker_compose_config_passes():
    result = compose_config("--quiet")
    assert result.returncode == 0, result.stderr


def test_docker_compose_config_refuses_a_broken_file(tmp_path):
    """The check can fail: a service that depends on a service that does not exist is an error."""
    broken = tmp_path / "compose.yaml"
    broken.write_text("services:\n  web:\n    image: flagplane\n    depends_on: [database]\n")
    result = compose_config("--quiet", file=broken)
    assert result.returncode != 0
    assert "database" in result.stderr


def test_one_image_runs_web_worker_one_beat_and_the_migrations(services):
    assert set(services) == {"postgres", "redis", "migrate", "web", "worker", "beat"}
    roles = {name: services[name]["command"][0] for name in ("migrate", "web", "worker", "beat")}
    assert roles == {"migrate": "migrate", "web": "web", "worker": "worker", "beat": "beat"}
    assert set(roles.values()) <= entrypoint_roles()
    assert len({services[name]["image"] for name in roles}) == 1
    assert services["beat"]["deploy"]["replicas"] == 1


def test_the_processes_start_after_the_migrations_and_healthy_dependencies(services):
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in ("web", "worker", "beat"):
        conditions = {dependency: spec["condition"] for dependency, spec in services[name]["depends_on"].items()}
        assert conditions == {
            "postgres": "service_healthy",
            "redis": "service_healthy",
            "migrate": "service_completed_successfully",
        }, name
    for name in ("postgres", "redis", "web", "worker"):
        assert services[name]["healthcheck"]["test"], name
    assert "/readyz" in " ".join(services["web"]["healthcheck"]["test"])


def test_the_flagplane_containers_are_read_only_and_unprivileged(services):
    for name in ("migrate", "web", "worker", "beat"):
        assert services[name]["read_only"] is True, name
        assert services[name]["cap_drop"] == ["ALL"], name


def test_every_setting_compose_passes_is_documented(services):
    keys = {key for name in ("migrate", "web", "worker", "beat") for key in services[name]["environment"]}
    assert keys - documented_settings() == set()
