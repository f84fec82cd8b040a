"""The one HTTP client for URLs people type: webhooks, rollout external checks, HTTP metric sources.

A URL in a webhook or a health rule is chosen by whoever may edit a project, and the request is
sent from inside the network the control plane runs in, so by default this client refuses to
reach anything that is not on the public internet (server-side request forgery):

* only ``http`` and ``https``; no user name or password in the URL;
* the host is resolved once and **each address is checked at connect time**, and the socket
  connects to the very address that was checked, so a name that resolves to a public address
  when saved and to ``127.0.0.1`` later (DNS rebinding) is still refused;
* refused addresses: loopback, private (RFC 1918, unique local), link-local (which holds the
  cloud metadata service, 169.254.169.254), carrier-grade NAT, multicast, unspecified, reserved
  and documentation ranges: whatever ``ipaddress`` does not call global, IPv4 hidden in IPv6
  (``::ffff:10.0.0.1``, NAT64, 6to4) included; and the metadata host names;
* redirects are not followed (a 3xx is an answer like any other);
* the answer's body is read only when the caller needs it, up to a size limit, and never goes
  into an error message: errors say a status or a short reason.

``OUTBOUND_ALLOWED_HOSTS`` (host names, addresses or networks) lets internal services through,
e.g. ``prometheus.internal,10.20.0.0/16``. Requests go straight to the host (no proxy).
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import time
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass

from django.conf import settings

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

METADATA_HOSTS = frozenset({"metadata.google.internal", "metadata.goog", "metadata", "instance-data"})
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class OutboundError(Exception):
    """A request that was refused or failed; the message is short and safe to store and show."""


class Refused(OutboundError):
    """The URL or the address it resolves to is not allowed."""


@dataclass(frozen=True)
class Answer:
    status: int
    reason: str
    body: bytes = b""

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def summary(self) -> str:
        """``HTTP 503 Service Unavailable``: what a failed attempt records."""
        return f"HTTP {self.status} {self.reason}".strip()


@dataclass(frozen=True)
class _Target:
    scheme: str
    host: str
    port: int
    path: str


def url_problem(url: str) -> str | None:
    """Why ``url`` will be refused, for a 400 when it is saved; None if it may be tried.

    Only what the URL itself says is checked (scheme, user info, an address or a known internal
    name); where a name resolves is checked on every request.
    """
    try:
        target = _parse(url)
        _check_name(target.host)
        literal = _literal_address(target.host)
        if literal is not None:
            _check_address(literal, target.host)
    except Refused as exc:
        return str(exc)
    return None


def request(
    method: str,
    url: str,
    *,
    timeout: float,
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    read_limit: int = 0,
) -> Answer:
    """Send one request through the guard; read up to ``read_limit`` bytes of the answer's body.

    Raises ``Refused`` for a URL or address the policy refuses and ``OutboundError`` for a failure
    (no connection, a timeout, TLS, a garbled or too large answer). ``timeout`` bounds each
    network operation and the whole body read.
    """
    target = _parse(url)
    _check_name(target.host)
    deadline = time.monotonic() + timeout
    connection_class = _GuardedHTTPSConnection if target.scheme == "https" else _GuardedHTTPConnection
    connection = connection_class(target.host, target.port, timeout=timeout)
    try:
        connection.request(method, target.path, body=body, headers=dict(headers or {}))
        response = connection.getresponse()
        content = _read(response, read_limit, deadline) if read_limit else b""
        return Answer(response.status, response.reason or "", content)
    except OutboundError:
        raise
    except TimeoutError:
        raise OutboundError(f"no answer within {timeout:g} s") from None
    except ssl.SSLError as exc:
        raise OutboundError(f"TLS failed ({exc.reason or type(exc).__name__})") from None
    except ConnectionRefusedError:
        raise OutboundError("connection refused") from None
    except (http.client.HTTPException, ValueError):
        raise OutboundError("not a valid HTTP answer") from None
    except OSError as exc:
        raise OutboundError(f"could not connect ({exc.strerror or type(exc).__name__})") from None
    finally:
        connection.close()


def _parse(url: str) -> _Target:
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError:
        raise Refused("not a valid URL") from None
    if parts.scheme not in ("http", "https"):
        raise Refused("only http:// and https:// URLs are allowed")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise Refused("a URL with a user name or password is not allowed (send credentials in a header)")
    host = (parts.hostname or "").rstrip(".").lower()
    if not host:
        raise Refused("the URL names no host")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return _Target(parts.scheme, host, port or (443 if parts.scheme == "https" else 80), path)


def _allowed_hosts() -> tuple[frozenset[str], tuple[Network, ...]]:
    names, networks = set(), []
    for entry in settings.OUTBOUND_ALLOWED_HOSTS:
        entry = entry.strip().rstrip(".").lower()
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
        except ValueError:
            names.add(entry)
    return frozenset(names), tuple(networks)


def _check_name(host: str) -> None:
    names, _ = _allowed_hosts()
    if host in names:
        return
    if host == "localhost" or host.endswith(".localhost"):
        raise Refused(f"{host} is this machine; add it to OUTBOUND_ALLOWED_HOSTS to allow it")
    if host in METADATA_HOSTS:
        raise Refused(f"{host} is a cloud metadata service")


def _literal_address(host: str) -> Address | None:
    """The address a host written as a number means, in any form the resolver accepts (``127.1``)."""
    try:
        infos = socket.getaddrinfo(host, None, flags=socket.AI_NUMERICHOST)
    except (socket.gaierror, UnicodeError, ValueError):
        return None
    return ipaddress.ip_address(infos[0][4][0].split("%")[0])


def _embedded_ipv4(address: Address) -> ipaddress.IPv4Address | None:
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _check_address(address: Address, host: str) -> None:
    names, networks = _allowed_hosts()
    if host in names or any(address in network for network in networks if network.version == address.version):
        return
    inner = _embedded_ipv4(address)
    if inner is not None:
        _check_address(inner, host)
        return
    if not address.is_global or address.is_multicast:
        shown = host if host == str(address) else f"{host} ({address})"
        raise Refused(
            f"{shown} is not a public address (loopback, private, link-local or reserved); "
            "add it to OUTBOUND_ALLOWED_HOSTS to allow it"
        )


def _connect(host: str, port: int, timeout: float) -> socket.socket:
    """A socket connected to the first allowed address of ``host``: the address checked is the one used."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise OutboundError(f"{host} does not resolve") from None
    refusal: Refused | None = None
    failure: OSError | None = None
    for family, kind, proto, _, sockaddr in infos:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%")[0])
        try:
            _check_address(address, host)
        except Refused as exc:
            refusal = exc
            continue
        sock = socket.socket(family, kind, proto)
        try:
            sock.settimeout(timeout)
            sock.connect(sockaddr)
        except OSError as exc:
            sock.close()
            failure = exc
            continue
        return sock
    if failure is not None:
        raise failure
    raise refusal or OutboundError(f"{host} does not resolve")


class _GuardedHTTPConnection(http.client.HTTPConnection):
    def connect(self) -> None:
        self.sock = _connect(self.host, self.port, self.timeout)


class _GuardedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, host: str, port: int, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())

    def connect(self) -> None:
        sock = _connect(self.host, self.port, self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def _read(response: http.client.HTTPResponse, limit: int, deadline: float) -> bytes:
    chunks, size = [], 0
    while True:
        if time.monotonic() > deadline:
            raise OutboundError("the answer took too long to read")
        chunk = response.read(min(65536, limit + 1 - size))
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            raise OutboundError(f"the answer is larger than {limit} bytes")
