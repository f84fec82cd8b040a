"""Every variable the control plane reads from the environment, and every one the Procfile
(`make run`) reads, is in the README's configuration table (the container's own are in
docs/operations.md)."""

import re

from tests.deploy.helpers import DEPLOY, ROOT

READ = re.compile(r"\benv[a-z_]*\(\s*\"([A-Z][A-Z0-9_]+)\"")
ENVIRON = re.compile(r"os\.environ(?:\.get)?[\[(]\s*\"([A-Z][A-Z0-9_]+)\"")
SHELL = re.compile(r"\$\{?([A-Z][A-Z0-9_]+)")
NOT_SETTINGS = {"DJANGO_SETTINGS_MODULE"}  # chosen by manage.py, asgi.py and the tests, not a setting


def read_by_the_code() -> set[str]:
    names = set()
    for path in (ROOT / "controlplane").rglob("*.py"):
        text = path.read_text()
        names |= set(READ.findall(text)) | set(ENVIRON.findall(text))
    return names - NOT_SETTINGS


def read_by_the_procfile() -> set[str]:
    return set(SHELL.findall((DEPLOY / "Procfile").read_text()))


def in_the_readme_table() -> set[str]:
    """Names in the first column of the README's configuration table (rows may name several)."""
    text = (ROOT / "README.md").read_text()
    after = text.split("## Configuration", 1)[1].split("| variable | default | meaning |", 1)[1]
    rows = after.split("\n\n", 1)[0].splitlines()
    first_cells = [row.split("|")[1] for row in rows if row.startswith("| `")]
    return {name for cell in first_cells for name in re.findall(r"`([A-Z][A-Z0-9_]+)`", cell)}


def test_the_reading_is_found_at_all():
    assert {"DATABASE_URL", "CELERY_QUEUE", "ROLLOUTS_EXTERNAL_CHECK_TIMEOUT_S"} <= read_by_the_code()
    assert "BIND" in read_by_the_procfile()


def test_every_setting_the_code_reads_is_in_the_readme_table():
    assert read_by_the_code() - in_the_readme_table() == set()


def test_every_variable_make_run_reads_is_in_the_readme_table():
    assert read_by_the_procfile() - in_the_readme_table() == set()


def test_the_readme_table_names_nothing_the_code_does_not_read():
    assert in_the_readme_table() - read_by_the_code() - read_by_the_procfile() == set()
