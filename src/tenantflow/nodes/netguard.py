"""The outbound-connection guard: every node that opens a socket connects through it.

A workflow author choosing where a node connects could otherwise reach the deployment's own network (the
metadata service, a database on localhost, an admin port). So, unless the host allows private networks
(``RunLimits(allow_private_network=True)``): names such as ``localhost`` are refused before any lookup;
a name is resolved once and refused if ANY of its addresses is not globally routable; and the socket is
connected to an address that was checked, never to the name again, so a DNS answer that changes between
check and connect (rebinding) cannot slip through. Spellings such as ``2130706433`` or ``0x7f.1`` need no
rule of their own: the resolver turns them into the address that is then checked.

Two ways to connect share those rules: :meth:`AddressGuard.connector` for aiohttp (the HTTP nodes) and
:meth:`AddressGuard.open_socket` for a plain TCP socket (SMTP).
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tenantflow.engine.errors import ErrorCode, NodeError

if TYPE_CHECKING:  # aiohttp loads with the first HTTP request, not with the node registry (start-up time)
    import aiohttp
    from aiohappyeyeballs import AddrInfoType
    from aiohttp.abc import AbstractResolver

    from tenantflow.engine.sdk import NodeContext

# IPv6 prefixes that carry an IPv4 address in their last 32 bits and route to it (NAT64 well-known prefix).
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
# Names that mean this machine whatever DNS says (RFC 6761 reserves ``localhost`` and everything below it).
_LOCAL_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})

SockAddr = tuple[Any, ...]
"""A socket address as ``getaddrinfo`` gives it: ``(host, port)`` or ``(host, port, flowinfo, scope_id)``."""


def is_public_address(host: str) -> bool:
    """Whether ``host`` (an IP literal as a socket sees it) is a globally routable unicast address, embedded
    IPv4 included.

    ``is_global`` alone is not enough: it holds for multicast, and 6to4 and NAT64 addresses count as global
    although they carry, and lead to, an IPv4 address that may be loopback or private.
    """
    ip = ipaddress.ip_address(host.split("%", 1)[0])
    if ip.is_multicast:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None and not embedded.is_global:
            return False
        if ip.ipv4_mapped is not None:
            return ip.ipv4_mapped.is_global
    return ip.is_global


def is_local_name(host: str) -> bool:
    """``localhost`` and its relatives, in any case and with any trailing dots."""
    name = host.rstrip(".").lower()
    return name in _LOCAL_NAMES or name.endswith(".localhost")


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    return True


class BlockedAddressError(OSError):
    """The guard refused a name or an address; an OSError so aiohttp reports it as a connection failure."""

    def __init__(self, address: str) -> None:
        super().__init__(f"connection to non-public address {address} refused")
        self.address = address


def blocked_error(address: str) -> NodeError:
    """The node error for a refused address: final, a retry would be refused the same way."""
    return NodeError(
        f"{address} is not a public address and private networks are not allowed",
        code=ErrorCode.BLOCKED_ADDRESS,
        retryable=False,
    )


@dataclass
class AddressGuard:
    """One node run's guard: ``allow_private`` comes from the host, ``blocked`` records what was refused."""

    allow_private: bool = False
    blocked: list[str] = field(default_factory=list)

    @classmethod
    def for_node(cls, ctx: NodeContext) -> AddressGuard:
        return cls(allow_private=ctx.allow_private_network)

    def _refuse(self, address: str) -> BlockedAddressError:
        self.blocked.append(address)
        return BlockedAddressError(address)

    def check_name(self, host: str) -> None:
        """Refuse names that mean this machine, and non-public IP literals, before they reach the resolver."""
        if self.allow_private:
            return
        if is_local_name(host) or (_is_ip_literal(host) and not is_public_address(host)):
            raise self._refuse(host)

    def check_addresses(self, addresses: Iterable[str]) -> None:
        """Refuse unless every address is public: one private answer makes the whole name suspect."""
        if self.allow_private:
            return
        for address in addresses:
            if not is_public_address(address):
                raise self._refuse(address)

    def __call__(self, addr_info: AddrInfoType) -> socket.socket:
        """aiohttp's socket factory: the last check, right before connecting. It also covers IP-literal URLs,
        which aiohttp never hands to the resolver."""
        family, type_, proto, _, sockaddr = addr_info
        self.check_addresses([str(sockaddr[0])])
        return socket.socket(family=family, type=type_, proto=proto)

    async def resolve(self, host: str, port: int) -> list[tuple[int, int, SockAddr]]:
        """``(family, proto, sockaddr)`` for each address of ``host``, all of them checked."""
        self.check_name(host)
        infos = await asyncio.get_running_loop().getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_ADDRCONFIG
        )
        self.check_addresses(str(info[4][0]) for info in infos)
        return [(family, proto, sockaddr) for family, _, proto, _, sockaddr in infos]

    def connector(self, *, limit: int) -> aiohttp.TCPConnector:
        """An aiohttp connector whose resolver and socket factory are this guard (aiohttp's own when private
        networks are allowed, so nothing changes there)."""
        import aiohttp

        if self.allow_private:
            return aiohttp.TCPConnector(limit=limit)
        return aiohttp.TCPConnector(limit=limit, resolver=_resolver_type()(self), socket_factory=self)

    async def open_socket(self, host: str, port: int, *, timeout: float) -> socket.socket:
        """A blocking TCP socket connected to a checked address of ``host`` (tried in the resolver's order),
        its timeout set to ``timeout``; the caller keeps ``host`` for TLS (SNI, certificate check)."""
        failure: OSError = OSError(f"{host} has no address")
        for family, proto, sockaddr in await self.resolve(host, port):
            sock = socket.socket(family, socket.SOCK_STREAM, proto)
            try:
                sock.setblocking(False)
                async with asyncio.timeout(timeout):
                    await asyncio.get_running_loop().sock_connect(sock, sockaddr)
            except OSError as exc:  # TimeoutError included
                sock.close()
                failure = exc
                continue
            sock.setblocking(True)
            sock.settimeout(timeout)
            return sock
        raise failure


@functools.cache
def _resolver_type() -> Callable[[AddressGuard], AbstractResolver]:
    """aiohttp's default resolver with the guard's checks; built on first use, when aiohttp is loaded."""
    from aiohttp.abc import ResolveResult
    from aiohttp.resolver import ThreadedResolver

    class GuardedResolver(ThreadedResolver):
        def __init__(self, guard: AddressGuard) -> None:
            super().__init__()
            self._guard = guard

        async def resolve(
            self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
        ) -> list[ResolveResult]:
            self._guard.check_name(host)
            results = await super().resolve(host, port, family)
            self._guard.check_addresses(result["host"] for result in results)
            return results

    return GuardedResolver
