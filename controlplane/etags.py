"""Entity tags in conditional requests: the one parser of If-Match and If-None-Match.

Comparison is weak (RFC 9110, 8.8.3.2): ``W/"x"`` and ``"x"`` name the same version, which is what
both of our uses want (a flag state's version, an SDK document's digest). The API (Django) and the
SDK edge (raw ASGI, headers as bytes) both call these.
"""

from __future__ import annotations


def listed_etags(header: bytes | str | None) -> tuple[str, ...] | None:
    """The entity tags listed in an If-Match or If-None-Match header, without ``W/``.

    An empty or absent header lists none (``()``); ``*`` (any version) gives None.
    """
    if isinstance(header, bytes):
        header = header.decode("latin-1")
    if not header or not header.strip():
        return ()
    if header.strip() == "*":
        return None
    return tuple(candidate.strip().removeprefix("W/") for candidate in header.split(",") if candidate.strip())


def etag_matches(header: bytes | str | None, etag: str) -> bool:
    """Whether the header names ``etag`` (or is ``*``)."""
    listed = listed_etags(header)
    return listed is None or etag.removeprefix("W/") in listed
