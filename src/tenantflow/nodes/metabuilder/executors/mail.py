"""MetaBuilder's ``email-send`` and ``smtp-relay-send``: one real message per item over SMTP.

Subject, body and template render ``{{key}}`` placeholders from the ``data`` parameter (MetaBuilder's
template rendering); any other ``{{ … }}`` block is an expression evaluated against the item.

Where the message goes, and whose login goes with it, is one of two things and never a mix of them; see
:class:`EmailSend`. Every connection, the relay's too, is opened by :mod:`tenantflow.nodes.netguard`, and
a failure is reported as a short status in our words: what a server said (a banner, a reply's text) is never
repeated, so a tenant cannot read a service through this node.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import mimetypes
import os
import re
import smtplib
import socket
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any, ClassVar

from tenantflow.engine.errors import ErrorCode, NodeError
from tenantflow.engine.expressions import UNDEFINED, js_string
from tenantflow.engine.expressions.values import format_json
from tenantflow.engine.sdk import Item, Items, NodeContext, NodeType
from tenantflow.nodes.metabuilder.executors.common import (
    EMAIL_SEND_ERROR,
    FLAG,
    TEXT,
    iso_now,
    or_template,
    per_item_async,
)
from tenantflow.nodes.n8n.core import first_input, object_schema
from tenantflow.nodes.n8n.data.set import get_path
from tenantflow.nodes.netguard import AddressGuard, BlockedAddressError, blocked_error

DEFAULT_RELAY_HOST = "localhost"
DEFAULT_RELAY_PORT = 2525
DEFAULT_FROM = "noreply@metabuilder.local"
SMTP_TIMEOUT_S = 30.0  # for each answer
SMTP_DEADLINE_S = 120.0  # for one message's whole conversation
EMAIL_PATTERN = re.compile(r"^[^\s@]+@[^\s@]+\.[^\s@]+$")
_BLOCK = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
_DATA_KEY = re.compile(r"^\s*([A-Za-z_][\w]*(?:\.[\w]+)*)\s*$")

_ADDRESSES = or_template({"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]})


@dataclass(frozen=True)
class Server:
    """Where to send and as whom: the operator's relay or the tenant's own server, never a mix."""

    host: str
    port: int
    user: str | None
    password: str | None
    relay: bool
    """The operator's relay: reachable on private networks, its TLS certificate not checked (as before)."""

    @property
    def label(self) -> str:
        """How errors name the server: the relay's address is deployment configuration, not the tenant's."""
        return "The SMTP relay" if self.relay else f"The SMTP server {self.host}:{self.port}"

    def guard(self, ctx: NodeContext) -> AddressGuard:
        return AddressGuard(allow_private=True) if self.relay else AddressGuard.for_node(ctx)

    def tls(self) -> ssl.SSLContext | None:
        """STARTTLS's context: certificates checked against ``host`` for a tenant's server."""
        return None if self.relay else ssl.create_default_context()


@dataclass(frozen=True)
class Envelope:
    """One message's recipients (``bcc`` goes in the envelope only, never in a header)."""

    to: list[str]
    cc: list[str]
    bcc: list[str]

    @property
    def recipients(self) -> list[str]:
        return [*self.to, *self.cc, *self.bcc]


# --- parameters ----------------------------------------------------------------------------------------


def render(ctx: NodeContext, name: str, index: int, data: dict[str, Any]) -> str | None:
    """A text parameter with ``{{key}}`` placeholders filled from ``data`` (a missing key renders empty);
    blocks that are not a plain key path, such as ``{{ $json.name }}``, are expressions on the item."""
    raw = ctx.raw_param(name)
    if raw is None:
        return None
    if not isinstance(raw, str) or raw.startswith("="):
        return js_string(ctx.evaluate(raw, index))
    return _BLOCK.sub(lambda match: _fill(ctx, match, index, data), raw)


def _fill(ctx: NodeContext, match: re.Match[str], index: int, data: dict[str, Any]) -> str:
    key = _DATA_KEY.match(match.group(1))
    value = get_path(data, key.group(1)) if key else ctx.evaluate(match.group(0), index)
    if value is None or value is UNDEFINED:
        return ""
    return format_json(value) if isinstance(value, dict | list) else js_string(value)


def addresses(value: Any, name: str, *, required: bool = False) -> list[str]:
    """A comma-separated string or a list of addresses, each checked; an empty required list is an error."""
    parts = value if isinstance(value, list) else js_string(value).split(",") if value else []
    found = [js_string(part).strip() for part in parts if js_string(part).strip()]
    for address in found:
        if not EMAIL_PATTERN.match(address):
            raise NodeError(
                f"Invalid email address in '{name}': {address!r}", code=ErrorCode.INVALID_PARAMETER
            )
    if required and not found:
        raise NodeError(f"Parameter '{name}' needs at least one address", code=ErrorCode.INVALID_PARAMETER)
    return found


def _port(value: Any) -> int:
    try:
        port = int(value)
    except (TypeError, ValueError) as exc:
        raise NodeError(f"SMTP port {value!r} is not a number", code=ErrorCode.INVALID_PARAMETER) from exc
    if not 0 < port < 65536:
        raise NodeError(f"SMTP port {port} is not between 1 and 65535", code=ErrorCode.INVALID_PARAMETER)
    return port


def _optional_text(ctx: NodeContext, name: str, index: int) -> str | None:
    value = ctx.param(name, index, None)
    return None if value is None or value == "" else js_string(value)


def _same_host(first: str, second: str) -> bool:
    return first.rstrip(".").lower() == second.rstrip(".").lower()


def choose_server(ctx: NodeContext, index: int) -> Server:
    """The relay unless the workflow names another host; the relay's login never goes anywhere else."""
    relay_host = os.environ.get("SMTP_RELAY_HOST") or DEFAULT_RELAY_HOST
    relay_port = _port(os.environ.get("SMTP_RELAY_PORT") or DEFAULT_RELAY_PORT)
    host = (_optional_text(ctx, "smtpHost", index) or "").strip()
    port_value = ctx.param("smtpPort", index, None)
    port = relay_port if port_value is None or port_value == "" else _port(port_value)
    user, password = _optional_text(ctx, "smtpUser", index), _optional_text(ctx, "smtpPassword", index)
    if password is not None and user is None:
        raise NodeError("'smtpPassword' needs an 'smtpUser'", code=ErrorCode.INVALID_PARAMETER)
    if host and not (_same_host(host, relay_host) and port == relay_port):
        return Server(host, port, user, password, relay=False)
    if port != relay_port:
        raise NodeError(
            f"smtpPort {port} is not the SMTP relay's port: the relay is set by the deployment (name your "
            "own 'smtpHost' to send through another server)",
            code=ErrorCode.INVALID_PARAMETER,
        )
    if user is not None:
        raise NodeError(
            "'smtpUser'/'smtpPassword' go with your own 'smtpHost': the SMTP relay logs in as the deployment",
            code=ErrorCode.INVALID_PARAMETER,
        )
    relay_user = os.environ.get("SMTP_RELAY_USER") or None
    return Server(relay_host, relay_port, relay_user, os.environ.get("SMTP_RELAY_PASSWORD"), relay=True)


def sender_of(ctx: NodeContext, index: int) -> str:
    sender = js_string(ctx.param("from", index, "") or os.environ.get("SMTP_FROM_ADDRESS") or DEFAULT_FROM)
    return addresses(sender, "from", required=True)[0]


# --- the message ---------------------------------------------------------------------------------------


def _attach(message: EmailMessage, attachment: Any) -> None:
    """A nodemailer-style attachment: ``{filename, content, encoding?: "base64", contentType?}``."""
    if not isinstance(attachment, dict) or not attachment.get("filename"):
        raise NodeError("Each attachment needs a 'filename'", code=ErrorCode.INVALID_PARAMETER)
    filename = str(attachment["filename"])
    content = js_string(attachment.get("content", ""))
    try:
        data = (
            base64.b64decode(content, validate=True)
            if attachment.get("encoding") == "base64"
            else content.encode()
        )
    except ValueError as exc:
        raise NodeError(
            f"Attachment {filename!r} is not valid base64", code=ErrorCode.INVALID_PARAMETER
        ) from exc
    mime = str(
        attachment.get("contentType") or mimetypes.guess_type(filename)[0] or "application/octet-stream"
    )
    maintype, _, subtype = mime.partition("/")
    message.add_attachment(data, maintype=maintype, subtype=subtype or "octet-stream", filename=filename)


@dataclass(frozen=True)
class Draft:
    message: EmailMessage
    envelope: Envelope
    text: str


def build_message(ctx: NodeContext, index: int, sender: str) -> Draft:
    data = ctx.param("data", index, {}) or {}
    if not isinstance(data, dict):
        raise NodeError("Parameter 'data' must be an object", code=ErrorCode.INVALID_PARAMETER)
    envelope = Envelope(
        to=addresses(ctx.param("to", index), "to", required=True),
        cc=addresses(ctx.param("cc", index), "cc"),
        bcc=addresses(ctx.param("bcc", index), "bcc"),
    )
    subject = render(ctx, "subject", index, data)
    text = render(ctx, "template", index, data)
    text = render(ctx, "body", index, data) if text is None else text
    if not subject or text is None:
        raise NodeError(
            "An email needs a 'subject' and a 'body' or 'template'", code=ErrorCode.INVALID_PARAMETER
        )
    message = EmailMessage()
    try:
        message["From"] = sender
        message["To"] = ", ".join(envelope.to)
        if envelope.cc:
            message["Cc"] = ", ".join(envelope.cc)
        message["Subject"] = subject
        message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2])
    except ValueError as exc:  # a header with a line break: an injection attempt or a broken template
        raise NodeError(f"Invalid email header: {exc}", code=ErrorCode.INVALID_PARAMETER) from exc
    message.set_content(text, subtype="html" if ctx.param("html", index, False) else "plain")
    for attachment in ctx.param("attachments", index, []) or []:
        _attach(message, attachment)
    return Draft(message, envelope, text)


class _CheckedSMTP(smtplib.SMTP):
    """smtplib on a socket the guard already connected: it knows the host name (for STARTTLS's SNI and
    certificate check) but never resolves or connects by itself."""

    def __init__(self, sock: socket.socket, server: Server) -> None:
        self._checked = sock
        super().__init__(server.host, server.port, timeout=SMTP_TIMEOUT_S)

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        return self._checked


def _deliver(sock: socket.socket, server: Server, sender: str, draft: Draft) -> None:
    """Blocking SMTP conversation (run in a thread); STARTTLS when offered, login when ``server`` has one."""
    try:
        smtp = _CheckedSMTP(sock, server)
        smtp.ehlo()
        if smtp.has_extn("starttls"):
            smtp.starttls(context=server.tls())
            smtp.ehlo()
        if server.user:
            smtp.login(server.user, server.password or "")
        smtp.send_message(draft.message, from_addr=sender, to_addrs=draft.envelope.recipients)
        with contextlib.suppress(OSError):  # the message is accepted; a rude goodbye changes nothing
            smtp.quit()
    finally:
        sock.close()


async def send(ctx: NodeContext, server: Server, sender: str, draft: Draft) -> None:
    ctx.count_api_call()
    try:
        sock = await server.guard(ctx).open_socket(server.host, server.port, timeout=SMTP_TIMEOUT_S)
        await _converse(sock, server, sender, draft)
    except BlockedAddressError as exc:
        raise blocked_error(exc.address) from exc
    except OSError as exc:  # smtplib's errors, TLS and socket errors are all OSErrors
        raise smtp_error(exc, server.label) from exc


async def _converse(sock: socket.socket, server: Server, sender: str, draft: Draft) -> None:
    """:func:`_deliver` in a thread, within :data:`SMTP_DEADLINE_S`: a server that answers a byte at a time
    never trips the per-answer timeout, so past the deadline (or when the node is cancelled) the connection
    is shut down under the thread, through a duplicate of its socket, and the thread ends."""
    watch = sock.dup()
    deadline = asyncio.timeout(SMTP_DEADLINE_S)
    try:
        async with deadline:
            await asyncio.to_thread(_deliver, sock, server, sender, draft)
    except TimeoutError as exc:
        if not deadline.expired():
            raise
        message = f"{server.label} did not finish the conversation within {SMTP_DEADLINE_S:g} s"
        raise NodeError(message, code=EMAIL_SEND_ERROR) from exc
    finally:
        with contextlib.suppress(OSError):
            watch.shutdown(socket.SHUT_RDWR)
        watch.close()


_REFUSALS: tuple[tuple[type[smtplib.SMTPResponseException], str], ...] = (
    (smtplib.SMTPConnectError, "refused the connection"),
    (smtplib.SMTPHeloError, "refused the greeting"),
    (smtplib.SMTPAuthenticationError, "refused the login"),
    (smtplib.SMTPSenderRefused, "refused the sender"),
    (smtplib.SMTPDataError, "refused the message"),
)


def smtp_error(exc: OSError, label: str) -> NodeError:
    """A failure as a short status in our words: reply codes, never the text a server sent with them."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        refused = ", ".join(f"{address} ({reply[0]})" for address, reply in exc.recipients.items())
        return NodeError(f"{label} refused recipients: {refused}", code=EMAIL_SEND_ERROR, retryable=False)
    if isinstance(exc, smtplib.SMTPResponseException):
        if not 100 <= exc.smtp_code <= 599:
            return NodeError(f"{label} does not speak SMTP", code=EMAIL_SEND_ERROR, retryable=False)
        what = next((text for kind, text in _REFUSALS if isinstance(exc, kind)), "refused a command")
        return NodeError(
            f"{label} {what} ({exc.smtp_code})", code=EMAIL_SEND_ERROR, retryable=exc.smtp_code < 500
        )
    return NodeError(f"{label} {_failure(exc)}", code=EMAIL_SEND_ERROR)


def _failure(exc: OSError) -> str:
    """What went wrong on our side of the conversation; smtplib's own messages are fixed texts."""
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return f"lacks an extension sending needs ({exc})"
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return "closed the connection or stopped answering"
    if isinstance(exc, smtplib.SMTPException):
        return f"could not be used ({exc.__class__.__name__})"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"failed the TLS certificate check ({exc.verify_message})"
    if isinstance(exc, ssl.SSLError):
        return f"failed the TLS handshake ({exc.reason})"
    if isinstance(exc, socket.gaierror):
        return "cannot be resolved"
    if isinstance(exc, TimeoutError):
        return f"did not answer within {SMTP_TIMEOUT_S:g} s"
    return f"cannot be reached ({exc.strerror or exc.__class__.__name__})"


# --- the nodes -----------------------------------------------------------------------------------------


class EmailSend(NodeType):
    """Sends one email per input item, through the operator's relay or the tenant's own server.

    - **The operator's relay** when ``smtpHost`` is absent or names the relay itself: host, port and login
      are deployment configuration (``SMTP_RELAY_HOST``, default ``localhost``; ``SMTP_RELAY_PORT``, 2525;
      ``SMTP_RELAY_USER`` and ``SMTP_RELAY_PASSWORD``, no login when unset), as MetaBuilder read them. A
      workflow cannot redirect it: an ``smtpPort`` other than the relay's without a host of its own is
      refused, and so are ``smtpUser``/``smtpPassword``. The relay may be on a private network (the
      operator chose it); STARTTLS does not check its certificate, as before.
    - **The tenant's own server** when ``smtpHost`` names another host (or the relay's host on another
      port): ``smtpPort`` (default: the relay's port), and a login only from ``smtpUser`` and
      ``smtpPassword``, best written as ``{{ $secrets.NAME }}`` so the record shows ``***``. The address
      guard applies (no private addresses unless the host allows them) and STARTTLS checks the certificate
      against ``smtpHost``. The relay's login is never sent there.

    STARTTLS is used whenever the server offers it. The sender is ``from``, else ``SMTP_FROM_ADDRESS``.
    ``retryAttempts`` from MetaBuilder is accepted but the executor's retry settings (``retryOnFail``)
    do the retrying, as for every node.
    """

    type = "email-send"
    display_name = "Send Email"
    description = "Sends an email through the SMTP relay or your own server, rendering {{key}} from 'data'."
    parameters_schema: ClassVar[dict[str, Any]] = object_schema(
        {
            "to": _ADDRESSES,
            "cc": _ADDRESSES,
            "bcc": _ADDRESSES,
            "from": TEXT,
            "subject": TEXT,
            "body": TEXT,
            "template": TEXT,
            "html": FLAG,
            "data": or_template({"type": "object"}),
            "attachments": or_template(
                {"type": "array", "items": {"type": "object", "required": ["filename"]}}
            ),
            "smtpHost": TEXT,
            "smtpPort": or_template({"type": "integer", "minimum": 1, "maximum": 65535}),
            "smtpUser": TEXT,
            "smtpPassword": TEXT,
            "retryAttempts": or_template({"type": "integer", "minimum": 0}),
        },
        required=("to", "subject"),
    ) | {"anyOf": [{"required": ["body"]}, {"required": ["template"]}]}

    async def run(self, ctx: NodeContext, inputs: list[Items]) -> list[Items]:
        return await per_item_async(first_input(inputs), lambda index, item: self._send(ctx, index, item))

    async def _send(self, ctx: NodeContext, index: int, item: Item) -> dict[str, Any]:
        server = choose_server(ctx, index)
        sender = sender_of(ctx, index)
        draft = build_message(ctx, index, sender)
        await send(ctx, server, sender, draft)
        return {
            "messageId": str(draft.message["Message-ID"]),
            "from": sender,
            "to": draft.envelope.to,
            "cc": draft.envelope.cc,
            "bcc": draft.envelope.bcc,
            "subject": str(draft.message["Subject"]),
            "bodyLength": len(draft.text),
            "timestamp": iso_now(),
        }


class SmtpRelaySend(EmailSend):
    type = "smtp-relay-send"
    display_name = "SMTP Relay Send"
