"""The outbound-connection guard, and proof that every node type able to open a socket goes through it.

The inventory test derives the node types that can reach the network from the registry and the node
modules' imports, so a new integration that opens sockets fails here until it is listed, and then the
behaviour tests run it against loopback, private, link-local, IPv4-mapped, ``localhost``-style and
redirected targets. Servers are real, on 127.0.0.1; the only stand-in is the system resolver, patched
where a test needs a name with chosen answers.
"""

from __future__ import annotations

import ast
import asyncio
import functools
import json
import socket
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any

import pytest

from tenantflow.engine.executor import RunLimits, execute
from tenantflow.nodes import netguard
from tenantflow.nodes.metabuilder.executors import mail
from tenantflow.nodes.netguard import AddressGuard, BlockedAddressError, is_local_name
from tests.nodes.harness import REGISTRY, NodeRun, workflow
from tests.nodes.http_server import redirect, serve
from tests.nodes.smtp_sink import smtp_sink

# --- which node types can open a socket ----------------------------------------------------------------

SOCKET_NODE_TYPES: dict[str, str] = {
    "n8n-nodes-base.httpRequest": "http",
    "http-request": "http",
    "email-send": "smtp",
    "smtp-relay-send": "smtp",
}
"""Every registered node type that can open a socket, and the protocol the behaviour tests speak to it."""
NETWORK_MODULES: dict[str, str] = {
    "tenantflow.nodes.netguard": "the guard itself",
    "tenantflow.nodes.n8n.http": "the HTTP client, on the guard's connector",
    "tenantflow.nodes.metabuilder.executors.mail": "SMTP on a socket the guard opened",
    "tenantflow.nodes.n8n.code.python_sandbox": "an AF_UNIX socketpair to its own sandbox processes only",
}
"""Every node module that imports a network library or opens connections, and why."""
SOCKET_FREE_NEIGHBOURS: dict[str, str] = {
    "webhook-response": "shares web.py with http-request; it builds the webhook's reply and opens nothing",
}
NETWORK_LIBRARIES = (
    "aiohappyeyeballs",
    "aiohttp",
    "aiosmtplib",
    "asyncssh",
    "ftplib",
    "http.client",
    "httpx",
    "imaplib",
    "poplib",
    "requests",
    "smtplib",
    "socket",
    "ssl",
    "telnetlib",
    "urllib.request",
    "websockets",
)
CONNECTING_CALLS = frozenset(
    {"create_connection", "open_connection", "sock_connect", "TCPConnector", "SMTP", "SMTP_SSL", "socket"}
)
NODES_ROOT = Path(netguard.__file__).parent


@functools.cache
def _modules() -> dict[str, ast.Module]:
    """Every module under ``tenantflow.nodes``, parsed, by dotted name."""
    trees = {}
    for path in sorted(NODES_ROOT.rglob("*.py")):
        parts = path.relative_to(NODES_ROOT.parent.parent).with_suffix("").parts
        trees[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = ast.parse(path.read_text("utf-8"))
    return trees


def _imports(tree: ast.Module) -> tuple[set[str], set[str]]:
    """(modules imported whole or as the source of names, modules a name was taken from)."""
    whole: set[str] = set()
    sources: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            whole.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            sources.add(node.module)
            whole.update(f"{node.module}.{alias.name}" for alias in node.names)
    return whole | sources, sources


def _calls(tree: ast.Module) -> Iterator[ast.Call]:
    return (node for node in ast.walk(tree) if isinstance(node, ast.Call))


def _call_name(call: ast.Call) -> str:
    func = call.func
    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""


def _is_network_module(tree: ast.Module) -> bool:
    imported, _ = _imports(tree)
    uses_library = any(
        name == library or name.startswith(f"{library}.")
        for name in imported
        for library in NETWORK_LIBRARIES
    )
    return uses_library or any(_call_name(call) in CONNECTING_CALLS for call in _calls(tree))


def test_every_node_type_that_can_open_a_socket_is_listed() -> None:
    """A node type can reach the network when its module imports a network library, or takes names from a
    module that does (transitively): that set must be exactly the listed socket node types and neighbours."""
    trees = _modules()
    network = {name for name, tree in trees.items() if _is_network_module(tree)}
    assert network == set(NETWORK_MODULES), "list the module in NETWORK_MODULES and test it here"
    reaching = set(network)
    while grown := {n for n, t in trees.items() if n not in reaching and _imports(t)[1] & reaching}:
        reaching |= grown
    derived = {node.type for node in REGISTRY if type(node).__module__ in reaching}
    assert derived == set(SOCKET_NODE_TYPES) | set(SOCKET_FREE_NEIGHBOURS)


def test_socket_nodes_connect_only_through_the_guard() -> None:
    """Outside the guard no node module connects by itself, and every aiohttp session gets a connector."""
    trees = _modules()
    for name in set(NETWORK_MODULES) - {"tenantflow.nodes.netguard"}:
        calls = list(_calls(trees[name]))
        assert not [call for call in calls if _call_name(call) in CONNECTING_CALLS], name
        sessions = [call for call in calls if _call_name(call) == "ClientSession"]
        assert all(any(k.arg == "connector" for k in call.keywords) for call in sessions), name
    for node_type in SOCKET_NODE_TYPES:
        module = type(REGISTRY.get(node_type)).__module__
        assert "tenantflow.nodes.netguard" in _imports(trees[module])[1], node_type


# --- the rules ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "local"),
    [
        ("localhost", True),
        ("LocalHost", True),
        ("localhost.", True),
        ("localhost..", True),
        ("api.localhost", True),
        ("localhost.localdomain", True),
        ("ip6-localhost", True),
        ("localhost.example.com", False),
        ("notlocalhost", False),
        ("example.com", False),
    ],
)
def test_local_names(host: str, local: bool) -> None:
    assert is_local_name(host) is local


def _answers(monkeypatch: pytest.MonkeyPatch, name: str, *addresses: str) -> list[str]:
    """Make the system resolver answer ``name`` with the next of ``addresses`` on each lookup (the last one
    from then on); returns the log of lookups of ``name``."""
    real = socket.getaddrinfo
    lookups: list[str] = []

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host != name:
            return real(host, port, *args, **kwargs)
        address = addresses[min(len(lookups), len(addresses) - 1)]
        lookups.append(address)
        return [
            (socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (ip, int(port or 0)))
            for ip in address.split(",")
        ]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return lookups


@pytest.mark.anyio
async def test_a_name_with_one_private_address_is_refused_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    _answers(monkeypatch, "mixed.test", "8.8.8.8,10.1.2.3")
    guard = AddressGuard()
    with pytest.raises(BlockedAddressError) as refused:
        await guard.open_socket("mixed.test", 25, timeout=1)
    assert refused.value.address == "10.1.2.3" and guard.blocked == ["10.1.2.3"]


@pytest.mark.anyio
async def test_private_networks_allowed_connects_to_what_was_resolved() -> None:
    async with smtp_sink() as (_, port):
        sock = await AddressGuard(allow_private=True).open_socket("localhost", port, timeout=1)
        with sock:
            assert sock.getpeername()[1] == port and sock.gettimeout() == 1
            assert (await asyncio.to_thread(sock.recv, 64)).startswith(b"220 ")


# --- every socket node against hostile targets ----------------------------------------------------------


class Listener:
    """A TCP server on 127.0.0.1 that counts connections, says ``greeting`` (nothing by default), then
    keeps the connection ``hold_s``, sending one more byte each ``drip_s`` if that is set."""

    def __init__(self, greeting: bytes, hold_s: float, drip_s: float | None) -> None:
        self.greeting, self.hold_s, self.drip_s, self.connections = greeting, hold_s, drip_s, 0
        self.done = asyncio.Event()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        writer.write(self.greeting)
        await writer.drain()
        held = asyncio.get_running_loop().time() + self.hold_s
        while (left := held - asyncio.get_running_loop().time()) > 0 and not self.done.is_set():
            with suppress(TimeoutError):
                await asyncio.wait_for(self.done.wait(), min(left, self.drip_s or left))
            if self.drip_s and not writer.is_closing():
                writer.write(b"x")
        writer.close()


@asynccontextmanager
async def listening(
    greeting: bytes = b"", hold_s: float = 0.2, drip_s: float | None = None
) -> AsyncIterator[tuple[Listener, int]]:
    listener = Listener(greeting, hold_s, drip_s)
    server = await asyncio.start_server(listener.handle, "127.0.0.1", 0)
    try:
        yield listener, server.sockets[0].getsockname()[1]
    finally:
        listener.done.set()
        server.close()
        await server.wait_closed()


def _url(host: str, port: int, path: str = "/probe") -> str:
    return f"http://{f'[{host}]' if ':' in host else host}:{port}{path}"


def target(node_type: str, host: str, port: int, **extra: Any) -> tuple[dict[str, Any], float]:
    """The node's parameters (and typeVersion) for a request to, or a message through, ``host:port``."""
    if SOCKET_NODE_TYPES[node_type] == "smtp":
        message = {"to": "a@example.com", "subject": "s", "body": "b"}
        return {**message, "smtpHost": host, "smtpPort": port, **extra}, 1
    if node_type == "http-request":
        return {"url": _url(host, port), "timeout": 2000, **extra}, 1
    return {"url": _url(host, port), "options": {"timeout": 2000}, **extra}, 4.2


async def run(
    node_type: str,
    parameters: dict[str, Any],
    *,
    version: float = 1,
    private: bool = False,
    secrets: Mapping[str, str] | None = None,
) -> NodeRun:
    document = workflow(node_type, parameters, [{}], version=version)
    limits = RunLimits(allow_private_network=private)
    return NodeRun(await execute(document, registry=REGISTRY, limits=limits, secrets=secrets))


@pytest.fixture(autouse=True)
def _short_smtp_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    """A guard that failed would leave the node waiting on an unroutable address: fail fast instead."""
    monkeypatch.setattr(mail, "SMTP_TIMEOUT_S", 2.0)
    for name in ("SMTP_RELAY_HOST", "SMTP_RELAY_PORT", "SMTP_RELAY_USER", "SMTP_RELAY_PASSWORD"):
        monkeypatch.delenv(name, raising=False)


HOSTILE_HOSTS = [
    "127.0.0.1",  # loopback
    "127.0.0.53",
    "0.0.0.0",  # unspecified: Linux connects it to this machine
    "localhost",
    "localhost.",
    "LOCALHOST",
    "api.localhost",
    "0x7f.1",  # spellings the resolver turns into 127.0.0.1
    "0x7f000001",
    "::1",
    "::ffff:127.0.0.1",  # IPv4-mapped IPv6
    "::ffff:a9fe:a9fe",
    "10.0.0.1",  # private
    "192.168.1.1",
    "172.16.0.1",
    "169.254.169.254",  # link-local: the cloud metadata service
    "100.64.0.1",  # CGNAT
    "224.0.0.1",  # multicast
    "ff02::1",
    "240.0.0.1",  # reserved
    "fd00::1",  # IPv6 ULA
    "fe80::1",  # IPv6 link-local
    "2002:7f00:1::1",  # 6to4 around 127.0.0.1
    "64:ff9b::7f00:1",  # NAT64 around 127.0.0.1
]


@pytest.mark.anyio
@pytest.mark.parametrize("node_type", SOCKET_NODE_TYPES)
@pytest.mark.parametrize("host", HOSTILE_HOSTS)
async def test_socket_nodes_refuse_non_public_targets(node_type: str, host: str) -> None:
    async with listening() as (listener, port):
        parameters, version = target(node_type, host, port)
        started = time.monotonic()
        refused = await run(node_type, parameters, version=version)
    assert refused.error["code"] == "BLOCKED_ADDRESS", refused.error
    assert "not a public address" in refused.error["message"]
    assert refused.state.attempts == 1
    assert listener.connections == 0
    assert time.monotonic() - started < 2


@pytest.mark.anyio
@pytest.mark.parametrize("node_type", SOCKET_NODE_TYPES)
async def test_socket_nodes_reach_private_targets_only_when_the_host_allows(node_type: str) -> None:
    async with listening() as (listener, port):
        parameters, version = target(node_type, "127.0.0.1", port)
        allowed = await run(node_type, parameters, version=version, private=True)
        reached = listener.connections
        blocked = await run(node_type, parameters, version=version)
    assert allowed.record.status == "error" and allowed.error["code"] != "BLOCKED_ADDRESS"
    assert blocked.error["code"] == "BLOCKED_ADDRESS"
    assert reached > 0 and listener.connections == reached


@pytest.mark.anyio
@pytest.mark.parametrize("node_type", SOCKET_NODE_TYPES)
async def test_socket_nodes_connect_to_the_address_they_checked(
    node_type: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A name that answers 127.0.0.1 (public for this test) and then a private address: one lookup only,
    and the node reaches what was checked (DNS rebinding)."""
    monkeypatch.setattr(netguard, "is_public_address", lambda host: host == "127.0.0.1")
    lookups = _answers(monkeypatch, "rebind.test", "127.0.0.1", "10.9.9.9")
    async with serve() as (server, port), smtp_sink() as (sink, smtp_port):
        http_kind = SOCKET_NODE_TYPES[node_type] == "http"
        parameters, version = target(node_type, "rebind.test", port if http_kind else smtp_port)
        reached = await run(node_type, parameters, version=version)
    assert reached.record.status == "success", reached.record.error
    assert lookups == ["127.0.0.1"]
    if http_kind:
        assert server.hits == ["/probe"]
    else:
        assert [recipients for _, recipients, _ in sink.received] == [["a@example.com"]]


@pytest.mark.anyio
@pytest.mark.parametrize("node_type", SOCKET_NODE_TYPES)
async def test_a_name_with_a_private_answer_is_refused(
    node_type: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _answers(monkeypatch, "mixed.test", "8.8.8.8,127.0.0.1")
    parameters, version = target(node_type, "mixed.test", 8)
    refused = await run(node_type, parameters, version=version)
    assert refused.error["code"] == "BLOCKED_ADDRESS" and "127.0.0.1" in refused.error["message"]


# --- redirects ------------------------------------------------------------------------------------------


HTTP_NODE_TYPES = [name for name, kind in SOCKET_NODE_TYPES.items() if kind == "http"]


@pytest.mark.anyio
@pytest.mark.parametrize("node_type", HTTP_NODE_TYPES)
@pytest.mark.parametrize("private", [False, True])
async def test_redirects_to_private_addresses_are_refused_unless_allowed(
    node_type: str, private: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """127.0.0.1 plays a public host here; its redirect to 127.0.0.2 is checked like the first hop."""
    monkeypatch.setattr(netguard, "is_public_address", lambda host: host == "127.0.0.1")
    async with serve("127.0.0.1", "127.0.0.2") as (server, port):
        server.routes["/out"] = lambda _: redirect(f"http://127.0.0.2:{port}/internal")
        parameters, version = target(node_type, "127.0.0.1", port)
        parameters["url"] = _url("127.0.0.1", port, "/out")
        outcome = await run(node_type, parameters, version=version, private=private)
    if private:
        assert outcome.record.status == "success" and server.hits == ["/out", "/internal"]
    else:
        assert outcome.error["code"] == "BLOCKED_ADDRESS" and "127.0.0.2" in outcome.error["message"]
        assert server.hits == ["/out"]


# --- what comes back from a server ----------------------------------------------------------------------

BANNERS = [b"SSH-2.0-OpenSSH_9.6\r\n", b"554 5.7.1 SSH-2.0-OpenSSH_9.6 go away\r\n"]


@pytest.mark.anyio
@pytest.mark.parametrize("node_type", SOCKET_NODE_TYPES)
@pytest.mark.parametrize("banner", BANNERS, ids=["ssh", "smtp-refusal"])
async def test_errors_never_echo_what_the_server_said(node_type: str, banner: bytes) -> None:
    async with listening(banner) as (listener, port):
        parameters, version = target(node_type, "127.0.0.1", port)
        failed = await run(node_type, parameters, version=version, private=True)
    assert listener.connections == 1
    recorded = json.dumps(failed.error)
    assert "SSH" not in recorded and "go away" not in recorded, recorded
    if banner.startswith(b"554") and SOCKET_NODE_TYPES[node_type] == "smtp":
        assert failed.error["message"] == f"The SMTP server 127.0.0.1:{port} refused the connection (554)"


@pytest.mark.anyio
async def test_a_server_that_stops_answering_ends_within_the_smtp_timeout() -> None:
    async with listening(b"220-SSH-2.0-OpenSSH_9.6\r\n", hold_s=30) as (_, port):
        parameters, _ = target("email-send", "127.0.0.1", port)
        started = time.monotonic()
        failed = await run("email-send", parameters, private=True)
        elapsed = time.monotonic() - started
    assert failed.error["code"] == "EMAIL_SEND_ERROR" and "SSH" not in json.dumps(failed.error)
    assert mail.SMTP_TIMEOUT_S <= elapsed < mail.SMTP_TIMEOUT_S + 2


@pytest.mark.anyio
async def test_a_server_that_drips_bytes_ends_within_the_conversation_deadline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A byte every 0.2 s never trips the per-answer timeout; the deadline for the whole message does."""
    monkeypatch.setattr(mail, "SMTP_DEADLINE_S", 1.5)
    async with listening(b"220-", hold_s=30, drip_s=0.2) as (_, port):
        parameters, _ = target("email-send", "127.0.0.1", port)
        started = time.monotonic()
        failed = await asyncio.wait_for(run("email-send", parameters, private=True), 10)
        elapsed = time.monotonic() - started
    assert failed.error["code"] == "EMAIL_SEND_ERROR"
    assert "did not finish the conversation within 1.5 s" in failed.error["message"]
    assert mail.SMTP_DEADLINE_S <= elapsed < mail.SMTP_DEADLINE_S + 2


# --- SMTP: whose login goes where ----------------------------------------------------------------------

RELAY_LOGIN = ("deployment", "relay-secret")


def _relay_env(monkeypatch: pytest.MonkeyPatch, host: str, port: int) -> None:
    monkeypatch.setenv("SMTP_RELAY_HOST", host)
    monkeypatch.setenv("SMTP_RELAY_PORT", str(port))
    monkeypatch.setenv("SMTP_RELAY_USER", RELAY_LOGIN[0])
    monkeypatch.setenv("SMTP_RELAY_PASSWORD", RELAY_LOGIN[1])


@pytest.mark.anyio
@pytest.mark.parametrize("node_type", ["email-send", "smtp-relay-send"])
async def test_a_tenant_host_never_receives_the_relays_login(
    node_type: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with smtp_sink() as (relay, relay_port), smtp_sink() as (tenant, port):
        _relay_env(monkeypatch, "127.0.0.1", relay_port)
        anonymous, _ = target(node_type, "localhost", port)
        sent = await run(node_type, anonymous, private=True)
        own_login = {"smtpUser": "me", "smtpPassword": "={{ $secrets.MY_SMTP }}"}
        logged_in = await run(node_type, {**anonymous, **own_login}, private=True, secrets={"MY_SMTP": "pw"})
        via_relay = await run(node_type, {"to": "a@example.com", "subject": "s", "body": "b"})
    assert sent.record.status == logged_in.record.status == via_relay.record.status == "success"
    assert tenant.logins == [("me", "pw")] and len(tenant.received) == 2
    assert relay.logins == [RELAY_LOGIN] and len(relay.received) == 1


@pytest.mark.anyio
async def test_localhost_on_another_port_than_the_relays_is_refused() -> None:
    """The default relay is localhost:2525; naming localhost with another port is a tenant's own host."""
    async with listening(b"SSH-2.0-OpenSSH_9.6\r\n") as (listener, port):
        parameters, _ = target("email-send", "localhost", port)
        refused = await run("email-send", parameters)
    assert refused.error["code"] == "BLOCKED_ADDRESS" and listener.connections == 0


@pytest.mark.anyio
@pytest.mark.parametrize(
    "parameters",
    [
        {"smtpPort": 2526},
        {"smtpUser": "me", "smtpPassword": "pw"},
        {"smtpHost": "relay.example.com.", "smtpUser": "me"},
        {"smtpHost": "mail.example.com", "smtpPassword": "pw"},
        {"smtpHost": "mail.example.com", "smtpPort": 70000},
    ],
)
async def test_the_relay_cannot_be_redirected_or_logged_into_by_a_workflow(
    parameters: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    _relay_env(monkeypatch, "Relay.Example.com", 2525)
    message = {"to": "a@example.com", "subject": "s", "body": "b"}
    refused = await run("email-send", {**message, **parameters})
    assert refused.error["code"] == "INVALID_PARAMETER", refused.error
