"""The client's own address behind a trusted proxy (chatbot/web/proxies.py):
per-address limits and the login brake see each customer, not the proxy."""

from __future__ import annotations

import aiohttp
import pytest

from chatbot.web.proxies import client_address, networks
from helpers import make_settings, start_server

PROXY = networks(["127.0.0.1", "10.1.0.0/16"])


def test_from_a_trusted_proxy_the_client_is_the_last_untrusted_hop() -> None:
    assert client_address("127.0.0.1", "203.0.113.7", PROXY) == "203.0.113.7"
    # a spoofed first entry and a second trusted proxy in the chain are skipped
    assert client_address("127.0.0.1", "198.51.100.1, 203.0.113.7, 10.1.2.3", PROXY) == "203.0.113.7"


def test_from_anyone_else_the_header_is_ignored() -> None:
    assert client_address("192.0.2.9", "203.0.113.7", PROXY) == "192.0.2.9"
    assert client_address("127.0.0.1", None, PROXY) == "127.0.0.1"
    assert client_address("127.0.0.1", "not an address", PROXY) == "not an address"  # the proxy's word, as given


def test_a_bad_entry_in_the_setting_is_named() -> None:
    with pytest.raises(ValueError, match="10.1.0.0/33"):
        networks(["10.1.0.0/33"])


async def failed_logins(url: str, forwarded_for: str, attempts: int) -> list[int]:
    statuses = []
    async with aiohttp.ClientSession() as session:
        for _ in range(attempts):
            body = {"brand": "cltiktok", "email": "alice@example.com", "password": "wrong password"}
            headers = {"X-Forwarded-For": forwarded_for}
            async with session.post(url + "/api/login", json=body, headers=headers) as response:
                statuses.append(response.status)
    return statuses


@pytest.mark.asyncio
@pytest.mark.parametrize("trusted", [["127.0.0.1"], []])
async def test_the_login_limit_counts_each_client_behind_a_trusted_proxy(tmp_path, trusted) -> None:
    """Behind the proxy (the test's own address, trusted), one client's
    failures do not throttle another's logins; when the proxy is not
    trusted, the header counts for nothing and both are one address."""
    server = await start_server(make_settings(tmp_path, trusted_proxies=trusted))
    try:
        first = await failed_logins(server.url, "203.0.113.7", 25)
        assert 429 in first  # the per-address limit (20 at once)
        other = await failed_logins(server.url, "198.51.100.4", 1)
        assert other == ([401] if trusted else [429])
    finally:
        await server.runner.cleanup()
