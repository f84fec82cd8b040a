"""deploy/Dockerfile, checked without a Docker engine: what it copies exists and is not ignored,
the requirements it installs are pinned, and the image runs as an unprivileged user."""

from __future__ import annotations

import fnmatch
import re

from tests.deploy.helpers import DEPLOY
from tests.helpers import ROOT

DOCKERFILE = (DEPLOY / "Dockerfile").read_text()


def ignored(path: str) -> bool:
    """Whether .dockerignore keeps ``path`` out of the build context (its patterns, as Docker reads them)."""
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for pattern in patterns:
        if pattern.startswith("**/"):  # at any depth
            if any(fnmatch.fnmatch(part, pattern[3:]) for part in parts):
                return True
        elif any(fnmatch.fnmatch(prefix, pattern) for prefix in prefixes):
            return True
    return False


def test_everything_the_image_copies_from_the_repository_exists_and_is_sent_to_the_build():
    sources = [
        source
        for line in re.findall(r"^COPY (?!--from)(.+)$", DOCKERFILE, flags=re.MULTILINE)
        for source in line.split()[:-1]
    ]
    assert "controlplane" in sources and "sdk" in sources and "requirements/base.txt" in sources
    for source in sources:
        assert (ROOT / source).exists(), source
        assert not ignored(source), f"{source} is excluded by .dockerignore"
    assert ignored(".git") and ignored(".venv") and ignored("tests") and ignored("controlplane/__pycache__")


def test_the_image_installs_pinned_requirements_only():
    assert "pip install --no-deps -r /tmp/requirements.txt" in DOCKERFILE and "pip check" in DOCKERFILE
    requirements = [
        line.split("#")[0].strip()
        for line in (ROOT / "requirements" / "base.txt").read_text().splitlines()
        if line.split("#")[0].strip()
    ]
    assert requirements and all(re.fullmatch(r"[A-Za-z0-9._-]+==[A-Za-z0-9.+-]+", r) for r in requirements)


def test_the_image_collects_static_files_and_runs_unprivileged_through_the_entrypoint():
    stages = DOCKERFILE.split("\nFROM ")
    assert len(stages) == 3, "a build stage and a runtime stage"
    runtime = stages[-1]
    assert "manage.py collectstatic" in stages[1]
    assert re.search(r"^USER 10001:10001$", runtime, flags=re.MULTILINE)
    assert 'ENTRYPOINT ["/app/deploy/entrypoint.sh"]' in runtime and 'CMD ["web"]' in runtime
    assert (DEPLOY / "entrypoint.sh").stat().st_mode & 0o111, "the entry point is executable"
