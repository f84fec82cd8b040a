"""A real control plane for SDK tests: the production web server on the test database,
stoppable at will."""

from __future__ import annotations

import pytest

from tests.edge.helpers import WebServer


class ControlPlane(WebServer):
    def responses(self, status: int, path: str = "/api/v1/sdk/config") -> int:
        """How many requests to ``path`` got this status, from the server's access log."""
        return sum(1 for line in self.log_lines(f"GET {path} ") if f'" {status} ' in line)


@pytest.fixture
def control_plane(transactional_db, tmp_path):
    plane = ControlPlane(tmp_path / "uvicorn.log")
    plane.start()
    yield plane
    plane.stop()
