"""A tiny SMTP server on 127.0.0.1 for the email nodes' tests: it receives messages and records logins.

Just enough SMTP (EHLO/HELO, AUTH PLAIN, MAIL, RCPT, DATA, QUIT) for smtplib; it advertises AUTH, so a
client that has a login sends it, and the test sees exactly which user and password arrived.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field


@dataclass
class SmtpSink:
    received: list[tuple[str, list[str], bytes]] = field(default_factory=list)
    logins: list[tuple[str, str]] = field(default_factory=list)
    """(user, password) of every AUTH PLAIN line, decoded."""
    connections: int = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        sender, recipients = "", list[str]()
        writer.write(b"220 sink ready\r\n")
        while line := await reader.readline():
            command = line.decode().strip()
            verb = command[:4].upper()
            if verb == "EHLO":
                reply = "250-sink\r\n250 AUTH PLAIN"
            elif verb == "HELO":
                reply = "250 sink"
            elif verb == "AUTH":
                _, user, password = base64.b64decode(command.split()[2]).decode().split("\0")
                self.logins.append((user, password))
                reply = "235 welcome"
            elif verb == "MAIL":
                sender, recipients, reply = command.split(":", 1)[1].strip(" <>"), [], "250 ok"
            elif verb == "RCPT":
                recipients.append(command.split(":", 1)[1].strip(" <>"))
                reply = "250 ok"
            elif verb == "DATA":
                writer.write(b"354 go\r\n")
                data = b""
                while (chunk := await reader.readline()) != b".\r\n":
                    data += chunk
                self.received.append((sender, recipients, data))
                reply = "250 queued"
            elif verb == "QUIT":
                writer.write(b"221 bye\r\n")
                break
            else:
                reply = "250 ok" if verb in ("RSET", "NOOP") else "502 no"
            writer.write(reply.encode() + b"\r\n")
            await writer.drain()
        writer.close()


@asynccontextmanager
async def smtp_sink() -> AsyncIterator[tuple[SmtpSink, int]]:
    """A running :class:`SmtpSink` and its port."""
    sink = SmtpSink()
    server = await asyncio.start_server(sink.handle, "127.0.0.1", 0)
    try:
        yield sink, server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()
