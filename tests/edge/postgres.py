"""A private PostgreSQL cluster for the outage tests: ``initdb`` in a temporary directory, on a
free port, with a migrated control-plane database; stopped, frozen and started again on purpose
(never the machine's shared PostgreSQL).

The test process itself stays on the test database. What the tests do to the private one's data
(seeding a project, revoking a key) runs in a subprocess configured on it, through the same
domain services the product uses: ``python -m tests.edge.postgres module:function [json-args]``
(``in_django``)."""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import psycopg

from tests.edge.faults import wait_until
from tests.edge.helpers import ROOT, free_port, server_environment

MIGRATED = "flagplane"


def binaries() -> Path:
    """Where PostgreSQL's server programs are (``pg_config --bindir``; Debian keeps them out of PATH)."""
    pg_config = shutil.which("pg_config")
    if pg_config is not None:
        directory = Path(subprocess.run([pg_config, "--bindir"], capture_output=True, text=True).stdout.strip())
        if (directory / "initdb").exists():
            return directory
    initdb = shutil.which("initdb")
    if initdb is None:
        raise RuntimeError("PostgreSQL's server programs (initdb, postgres) are not installed")
    return Path(initdb).parent


def as_postgres(command: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: as root, run it as the ``postgres`` user."""
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


class PrivatePostgres:
    """One cluster in its own directory. ``stop``/``start`` is an outage with connections
    refused; ``freeze``/``thaw`` (SIGSTOP to every process of the cluster) one where the
    kernel still accepts connections and nothing ever answers."""

    def __init__(self) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="fp-postgres-"))
        self.data = self.directory / "data"
        self.log_path = self.directory / "postgres.log"
        self.port = free_port()
        self.copies = 0
        self.bin = binaries()
        self.process: subprocess.Popen | None = None
        if os.geteuid() == 0:
            shutil.chown(self.directory, "postgres", "postgres")
        subprocess.run(
            as_postgres([str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust",
                         "-E", "UTF8", "--no-locale", "--no-sync"]),
            check=True, capture_output=True,
        )  # fmt: skip

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                as_postgres([str(self.bin / "postgres"), "-D", str(self.data), "-p", str(self.port),
                             "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={self.directory}",
                             "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]),
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        wait_until(self.answers, 60, f"PostgreSQL on port {self.port}", self.process)

    def answers(self) -> bool:
        try:
            with psycopg.connect(self.admin_url(), connect_timeout=2) as connection:
                connection.execute("SELECT 1")
            return True
        except psycopg.Error:
            return False

    def admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def stop(self) -> None:
        """A fast shutdown (``pg_ctl stop -m fast``): sessions are ended, new connections refused."""
        subprocess.run(
            as_postgres([str(self.bin / "pg_ctl"), "stop", "-D", str(self.data), "-m", "fast", "-w"]),
            check=True, capture_output=True,
        )  # fmt: skip
        self.process.wait(30)

    def postmaster(self) -> int:
        return int((self.data / "postmaster.pid").read_text().split()[0])

    def freeze(self) -> None:
        """SIGSTOP to the postmaster, then to each of its children (every backend is a session
        of its own, so no process group reaches them all). Stopped first, the postmaster forks
        no new ones meanwhile."""
        postmaster = self.postmaster()
        os.kill(postmaster, signal.SIGSTOP)
        for child in children(postmaster):
            os.kill(child, signal.SIGSTOP)

    def thaw(self) -> None:
        try:
            postmaster = self.postmaster()
            for child in children(postmaster):
                os.kill(child, signal.SIGCONT)
            os.kill(postmaster, signal.SIGCONT)
        finally:
            os.kill(self.process.pid, signal.SIGCONT)  # runuser stops itself when its child stops

    def destroy(self) -> None:
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(OSError):
                self.thaw()
            subprocess.run(
                as_postgres([str(self.bin / "pg_ctl"), "stop", "-D", str(self.data), "-m", "immediate", "-w"]),
                capture_output=True,
            )  # fmt: skip
            self.process.wait(30)
        shutil.rmtree(self.directory, ignore_errors=True)

    def migrate(self) -> None:
        """Create the control plane's database and migrate it, as ``make migrate`` does; tests
        take copies of it (``database``)."""
        with psycopg.connect(self.admin_url(), autocommit=True) as connection:
            connection.execute(f"CREATE DATABASE {MIGRATED}")
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--no-input", "-v0"],
            cwd=ROOT, env=server_environment(DATABASE_URL=self.url_of(MIGRATED)), check=True, capture_output=True,
        )  # fmt: skip

    def database(self) -> str:
        """A new database copied from the migrated one; its URL."""
        self.copies += 1
        name = f"{MIGRATED}_{self.copies}"
        with psycopg.connect(self.admin_url(), autocommit=True) as connection:
            connection.execute(f"CREATE DATABASE {name} TEMPLATE {MIGRATED}")
        return self.url_of(name)

    def url_of(self, database: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"


def query(url: str, sql: str, *params: Any) -> list[tuple]:
    """Rows of one statement in the database at ``url`` (what the control plane stored)."""
    with psycopg.connect(url.replace("postgres://", "postgresql://", 1), connect_timeout=5) as connection:
        return connection.execute(sql, params).fetchall()


def children(pid: int) -> list[int]:
    """Processes whose parent is ``pid`` (from /proc: Linux)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            # "pid (command) state ppid ...": the command may hold spaces, so split after it.
            if int(stat.read_text().rpartition(")")[2].split()[1]) == pid:
                found.append(int(stat.parent.name))
    return found


def in_django(function: str, *args: Any, **environment: str) -> Any:
    """``module:function(*args)`` in a Django process with these settings (``DATABASE_URL``,
    ``REDIS_URL``, ...); its JSON result."""
    done = subprocess.run(
        [sys.executable, "-m", "tests.edge.postgres", function, json.dumps(args)],
        cwd=ROOT, env=server_environment(**environment), capture_output=True, text=True,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"{function} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# What the tests do in the private database (through ``in_django``).


def seed_checkout() -> dict[str, Any]:
    """Project ``shop`` with ``new-checkout`` on in production, published, and two SDK keys."""
    from controlplane.audit.services import SYSTEM
    from controlplane.documents.services import rebuild
    from controlplane.flags.services import create_flag, get_state, update_flag_state
    from controlplane.projects.services import create_project, issue_sdk_key

    project = create_project(SYSTEM, key="shop", name="Shop", environments=["production"])
    production = project.environments.get(key="production")
    flag = create_flag(project, SYSTEM, key="new-checkout", name="New checkout")
    update_flag_state(get_state(flag, production), SYSTEM, {"on": True, "default_serve": {"variant": "on"}})
    published = rebuild(production.id)
    keys = [issue_sdk_key(production, SYSTEM, name)[1] for name in ("checkout-service", "retired-service")]
    return {"environment_id": production.id, "version": published.version, "sdk_key": keys[0], "revoked_key": keys[1]}


def revoke(plaintext: str) -> None:
    from controlplane.audit.services import SYSTEM
    from controlplane.projects.models import SdkKey
    from controlplane.projects.services import revoke_sdk_key
    from controlplane.secrets import hash_secret

    revoke_sdk_key(SdkKey.objects.get(digest=hash_secret(plaintext)), SYSTEM, "retired")


def toggle_checkout(on: bool) -> int:
    """Toggle ``new-checkout`` in production and publish it (as the worker would); the version."""
    from controlplane.audit.services import SYSTEM
    from controlplane.documents.services import rebuild
    from controlplane.flags.models import Flag
    from controlplane.flags.services import get_state, toggle_flag

    flag = Flag.objects.get(project__key="shop", key="new-checkout")
    production = flag.project.environments.get(key="production")
    toggle_flag(get_state(flag, production), SYSTEM, on, "after the outage")
    return rebuild(production.id).version


def main(function: str, args: str) -> None:
    import django

    django.setup()
    module, _, name = function.partition(":")
    result = getattr(importlib.import_module(module), name)(*json.loads(args))
    print(json.dumps(result))


if __name__ == "__main__":
    main(*sys.argv[1:])
