"""Where upstream may send hubgate: its own origin and the Hub's CDNs, never metadata or private addresses."""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

import pytest
from aiohttp.abc import AbstractResolver, ResolveResult

from mirror.config import UpstreamSettings
from mirror.errors import UpstreamRedirectRefused
from mirror.hub.egress import (
    AddressPolicy,
    GuardedResolver,
    Origin,
    RedirectGuard,
    RefusedAddress,
    address_class,
)

HUB_CDNS = UpstreamSettings().redirect_hosts


def _guard(endpoint: str = "https://huggingface.co", hosts: tuple[str, ...] = HUB_CDNS) -> RedirectGuard:
    return RedirectGuard(
        endpoint=endpoint, allowed_hosts=hosts, addresses=AddressPolicy(Origin.of(endpoint).host)
    )


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("8.8.8.8", "public"),
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("10.1.2.3", "private"),
        ("192.168.0.1", "private"),
        ("172.16.5.4", "private"),
        ("fd00::1", "private"),
        ("::ffff:169.254.169.254", "link-local"),
        ("0.0.0.0", "unspecified"),
        ("224.0.0.1", "reserved"),
    ],
)
def test_address_classes(address: str, kind: str) -> None:
    assert address_class(ipaddress.ip_address(address)) == kind


@pytest.mark.parametrize(
    "url",
    [
        "https://huggingface.co/openai-community/gpt2/resolve/main/config.json",
        "https://cdn-lfs.huggingface.co/repos/aa/bb/cc?X-Amz-Signature=1",
        "https://cas-bridge.xethub.hf.co/xet-bridge-us/abc",
        "https://cdn-lfs-us-1.hf.co/repos/x",
        "https://hf.co/x",
    ],
)
def test_the_hub_and_its_cdns_are_followed(url: str) -> None:
    _guard().check(url)


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://169.254.169.254/latest/meta-data/", "not on upstream.redirect_hosts"),
        ("https://evilhf.co/x", "not on upstream.redirect_hosts"),
        ("https://hf.co.attacker.example/x", "not on upstream.redirect_hosts"),
        ("https://huggingface.co:8443/x", "not on upstream.redirect_hosts"),
        ("file:///etc/passwd", "file URL"),
        ("ftp://cdn-lfs.hf.co/x", "ftp URL"),
    ],
)
def test_other_destinations_are_refused(url: str, why: str) -> None:
    with pytest.raises(UpstreamRedirectRefused, match=why):
        _guard().check(url)


def test_an_allowed_name_written_as_a_private_address_is_refused_for_a_public_upstream() -> None:
    guard = _guard(hosts=("*",))
    with pytest.raises(UpstreamRedirectRefused, match=r"169\.254\.169\.254 is a link-local address"):
        guard.check("http://169.254.169.254/latest/meta-data/")
    with pytest.raises(UpstreamRedirectRefused, match="is a private address"):
        guard.check("http://10.0.0.8/internal")
    guard.check("http://93.184.216.34/object")


def test_a_loopback_upstream_accepts_loopback_cdns_but_only_those_allowed() -> None:
    guard = _guard("http://127.0.0.1:8000", hosts=("127.0.0.2:*",))
    guard.check("http://127.0.0.1:8000/x")  # the upstream's own origin
    guard.check("http://127.0.0.2:9999/repos/x")
    with pytest.raises(UpstreamRedirectRefused):
        guard.check("http://127.0.0.1:8001/admin")  # same host, another port: another service
    with pytest.raises(UpstreamRedirectRefused):
        guard.check("http://169.254.169.254/")


def test_host_patterns_may_name_a_port() -> None:
    guard = _guard("http://127.0.0.1:8000", hosts=("127.0.0.2:9000",))
    guard.check("http://127.0.0.2:9000/x")
    with pytest.raises(UpstreamRedirectRefused):
        guard.check("http://127.0.0.2:9001/x")


class _FixedAnswers(AbstractResolver):
    """aiohttp's resolver interface answering from a table, as DNS would (a rebinding attacker's DNS)."""

    def __init__(self, table: dict[str, list[str]]) -> None:
        self._table = table

    async def resolve(self, host: str, port: int = 0, family: Any = socket.AF_INET) -> list[ResolveResult]:
        return [
            ResolveResult(hostname=host, host=address, port=port, family=family, proto=0, flags=0)
            for address in self._table[host]
        ]

    async def close(self) -> None:
        return None


async def test_a_cdn_name_resolving_into_private_space_is_not_connected_to() -> None:
    policy = AddressPolicy("huggingface.co")
    resolver = GuardedResolver(
        policy,
        _FixedAnswers(
            {
                "huggingface.co": ["18.0.0.1"],
                "cdn-lfs.hf.co": ["169.254.169.254", "10.0.0.1"],
                "mixed.hf.co": ["10.0.0.1", "18.0.0.2"],
            }
        ),
    )
    assert [r["host"] for r in await resolver.resolve("huggingface.co", 443)] == ["18.0.0.1"]
    with pytest.raises(RefusedAddress, match="resolves only to addresses hubgate does not connect to"):
        await resolver.resolve("cdn-lfs.hf.co", 443)
    assert [r["host"] for r in await resolver.resolve("mixed.hf.co", 443)] == ["18.0.0.2"]


async def test_an_on_prem_upstream_on_a_private_address_makes_that_space_acceptable() -> None:
    policy = AddressPolicy("hub.corp.example")
    resolver = GuardedResolver(
        policy, _FixedAnswers({"hub.corp.example": ["10.0.0.5"], "cdn.corp.example": ["10.0.0.6"]})
    )
    with pytest.raises(RefusedAddress):
        await resolver.resolve("cdn.corp.example", 443)  # before the upstream was ever resolved
    await resolver.resolve("hub.corp.example", 443)
    assert [r["host"] for r in await resolver.resolve("cdn.corp.example", 443)] == ["10.0.0.6"]
    assert not policy.permits(ipaddress.ip_address("169.254.169.254"))
