"""Where hubgate's upstream requests may go: the Hub, and the hosts the Hub redirects downloads to.

An upstream answer chooses where hubgate goes next (a redirect's Location). A compromised or spoofed
upstream, or a CDN that reflects a URL, could point hubgate at the cloud's metadata service
(169.254.169.254) or at a service on the company's network. Two checks stop that:

* `RedirectGuard` checks each redirect target before any request: same origin as the configured upstream,
  or a host on the allow-list (default: the Hub's own CDNs, `*.huggingface.co` and `*.hf.co`); and a
  target written as an IP address must be a public one.
* `GuardedResolver` checks the addresses a host name resolves to, which are the only addresses the
  connector connects to: a name on the allow-list that resolves into loopback, link-local, private or
  otherwise non-public space (DNS rebinding) is refused at connect time.

Both allow what the configured upstream itself is: an on-premises Hub on a private address (or a test's
fake Hub on loopback) makes that class of address acceptable. Link-local and unspecified addresses are
acceptable only when the upstream itself is one.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from mirror.errors import UpstreamRedirectRefused

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_DEFAULT_PORTS = {"http": 80, "https": 443}


def address_class(address: IPAddress) -> str:
    """`public`, or the kind of non-public space an address belongs to."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address_class(address.ipv4_mapped)
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link-local"
    if address.is_unspecified:
        return "unspecified"
    if address.is_multicast or address.is_reserved:
        return "reserved"
    if address.is_private:
        return "private"
    if not address.is_global:
        return "reserved"
    return "public"


def _ip_literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class Origin:
    scheme: str
    host: str
    port: int

    @staticmethod
    def of(url: str) -> Origin:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        port = parts.port or (443 if scheme == "https" else 80)
        return Origin(scheme=scheme, host=(parts.hostname or "").lower(), port=port)


class AddressPolicy:
    """Which address classes hubgate may connect to: public ones, plus the upstream's own class.

    For an upstream named by an IP address (or `localhost`) its class is known at once; for a name, it is
    learned from what the name resolves to when hubgate first connects to it (see GuardedResolver).
    """

    def __init__(self, upstream_host: str) -> None:
        self.upstream_host = upstream_host.lower()
        self._allowed = {"public"}
        literal = _ip_literal(upstream_host)
        if literal is not None:
            self._allowed.add(address_class(literal))
        elif self.upstream_host == "localhost":
            self._allowed.add("loopback")

    def learn_upstream(self, addresses: Sequence[IPAddress]) -> None:
        self._allowed.update(address_class(address) for address in addresses)

    def permits(self, address: IPAddress) -> bool:
        return address_class(address) in self._allowed

    def describe(self, address: IPAddress) -> str:
        return f"{address} is a {address_class(address)} address"


class RedirectGuard:
    """Decides whether hubgate may follow an upstream redirect to `url`; raises UpstreamRedirectRefused."""

    def __init__(self, *, endpoint: str, allowed_hosts: Sequence[str], addresses: AddressPolicy) -> None:
        self._upstream = Origin.of(endpoint)
        self._patterns = tuple(pattern.lower() for pattern in allowed_hosts)
        self._addresses = addresses

    def is_upstream(self, url: str) -> bool:
        return Origin.of(url) == self._upstream

    def check(self, url: str) -> None:
        target = Origin.of(url)
        if target == self._upstream:
            return
        if target.scheme not in ("http", "https"):
            raise UpstreamRedirectRefused(f"upstream redirected to a {target.scheme or 'relative'} URL")
        if not self._host_allowed(target):
            raise UpstreamRedirectRefused(
                f"upstream redirected to {target.host}:{target.port}, which is not on upstream.redirect_hosts"
            )
        literal = _ip_literal(target.host)
        if literal is not None and not self._addresses.permits(literal):
            raise UpstreamRedirectRefused(
                f"upstream redirected to {self._addresses.describe(literal)}; hubgate never follows that"
            )

    def _host_allowed(self, target: Origin) -> bool:
        for pattern in self._patterns:
            if _has_port(pattern):
                host_pattern, _, port_pattern = pattern.rpartition(":")
            else:
                # A bare host allows its scheme's standard port only (`host:*` allows any port).
                host_pattern, port_pattern = pattern, str(_DEFAULT_PORTS.get(target.scheme, 0))
            if port_pattern not in ("*", str(target.port)):
                continue
            if fnmatch.fnmatchcase(target.host, host_pattern):
                return True
        return False


def _has_port(pattern: str) -> bool:
    head, sep, tail = pattern.rpartition(":")
    return bool(sep) and bool(head) and (tail.isdigit() or tail == "*") and not head.endswith(":")


class RefusedAddress(OSError):
    """A name resolved only to addresses hubgate does not connect to."""


class GuardedResolver(AbstractResolver):
    """The connector's resolver: resolves as usual, then drops addresses hubgate must not connect to.

    aiohttp connects only to what its resolver returns, so this checks the address actually connected to.
    IP-literal URLs skip resolution; RedirectGuard checks those before the request.
    """

    def __init__(self, addresses: AddressPolicy, inner: AbstractResolver | None = None) -> None:
        self._addresses = addresses
        self._inner = inner or DefaultResolver()

    async def resolve(self, host: str, port: int = 0, family: Any = socket.AF_INET) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        if host.lower() == self._addresses.upstream_host:
            # The configured upstream is trusted wherever it lives (an on-prem Hub, a test's fake Hub).
            found = (_ip_literal(str(result["host"])) for result in results)
            self._addresses.learn_upstream([address for address in found if address is not None])
            return results
        kept = [result for result in results if self._permitted(result)]
        if not kept:
            refused = ", ".join(str(result["host"]) for result in results)
            # An OSError is what the connector expects from a resolver; the client maps it to a coded error.
            raise RefusedAddress(f"{host} resolves only to addresses hubgate does not connect to ({refused})")
        return kept

    def _permitted(self, result: ResolveResult) -> bool:
        address = _ip_literal(str(result["host"]))
        return address is not None and self._addresses.permits(address)

    async def close(self) -> None:
        await self._inner.close()
