"""The client's own address behind a proxy (HAProxy in front of a cluster).

Per-address limits and the login brake (auth.py) key on the client's
address. Behind a proxy every request comes from the proxy, and all customers
would share one budget. A request from a trusted proxy (`trusted_proxies`:
addresses or networks) is taken to be from the address that proxy put last
in X-Forwarded-For, skipping any further trusted proxies in the chain; the
header is ignored from anyone else, who could write whatever they liked in
it. aiohttp-remotes does the same with more options; this is the part we
need, without a dependency for the embedded default."""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Middleware

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def networks(trusted: list[str]) -> list[Network]:
    """`trusted`'s entries, each an address or a network (CIDR); ValueError names a bad one."""
    return [ipaddress.ip_network(entry.strip(), strict=False) for entry in trusted if entry.strip()]


def _trusted(address: str | None, trusted: list[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return False
    return any(ip in network for network in trusted)


def client_address(remote: str | None, forwarded_for: str | None, trusted: list[Network]) -> str | None:
    """Who sent the request: `remote`, unless it is a trusted proxy that says
    whom it forwarded for; then the last address in the chain that is not a
    trusted proxy itself."""
    if not forwarded_for or not _trusted(remote, trusted):
        return remote
    chain = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
    for hop in reversed(chain):
        if not _trusted(hop, trusted):
            return hop
    return chain[0] if chain else remote


def forwarded_middleware(trusted: list[Network]) -> Middleware:
    @web.middleware
    async def forwarded(request: web.Request, handler: Handler) -> web.StreamResponse:
        client = client_address(request.remote, request.headers.get("X-Forwarded-For"), trusted)
        if client is not None and client != request.remote:
            request = request.clone(remote=client)
        return await handler(request)

    return forwarded
