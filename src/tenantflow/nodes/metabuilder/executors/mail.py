"""MetaBuilder's ``email-send`` and ``smtp-relay-send``: one real message per item through an SMTP relay.

The relay (host, port, sender, optional login) is deployment configuration, read from ``SMTP_RELAY_HOST``,
``SMTP_RELAY_PORT``, ``SMTP_FROM_ADDRESS``, ``SMTP_RELAY_USER`` and ``SMTP_RELAY_PASSWORD`` as MetaBuilder
did; ``smtpHost``/``smtpPort``/``from`` parameters override them. A host named by a workflow rather than by
the deployment is an outbound connection chosen by a tenant, so it gets the HTTP node's address guard:
unless the host allows private networks, every address it resolves to must be public, and the connection
goes to the checked address (no second lookup an attacker's DNS could answer differently).

Subject, body and template render ``{{key}}`` placeholders from the ``data`` parameter (MetaBuilder's
template rendering); any other ``{{ … }}`` block is an expression evaluated against the item.
"""

from __future__ import annotations

import asyncio
import base64
import mimetypes
import os
import re
import smtplib
import socket
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
from tenantflow.nodes.n8n.http import is_public_address

DEFAULT_RELAY_HOST = "localhost"
DEFAULT_RELAY_PORT = 2525
DEFAULT_FROM = "noreply@metabuilder.local"
SMTP_TIMEOUT_S = 30.0
EMAIL_PATTERN = re.compile(r"^[^\s@]+@[^\s@]+\.[^\s@]+$")
_BLOCK = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
_DATA_KEY = re.compile(r"^\s*([A-Za-z_][\w]*(?:\.[\w]+)*)\s*$")

_ADDRESSES = or_template({"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]})


@dataclass(frozen=True)
class Relay:
    """Where and as whom to send; ``address`` is the IP or host name the socket connects to."""

    address: str
    port: int
    sender: str
    user: str | None
    password: str | None


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


def _relay(ctx: NodeContext, index: int) -> tuple[str, int, str]:
    """(host, port, sender) from the parameters, falling back to the deployment's environment."""
    host = js_string(
        ctx.param("smtpHost", index, "") or os.environ.get("SMTP_RELAY_HOST") or DEFAULT_RELAY_HOST
    )
    port_value = ctx.param("smtpPort", index, None) or os.environ.get("SMTP_RELAY_PORT") or DEFAULT_RELAY_PORT
    try:
        port = int(port_value)
    except (TypeError, ValueError) as exc:
        raise NodeError(
            f"SMTP port {port_value!r} is not a number", code=ErrorCode.INVALID_PARAMETER
        ) from exc
    sender = js_string(ctx.param("from", index, "") or os.environ.get("SMTP_FROM_ADDRESS") or DEFAULT_FROM)
    return host, port, addresses(sender, "from", required=True)[0]


async def resolve_relay(ctx: NodeContext, index: int) -> Relay:
    host, port, sender = _relay(ctx, index)
    configured = os.environ.get("SMTP_RELAY_HOST") or DEFAULT_RELAY_HOST
    address = host if host == configured or ctx.allow_private_network else await _public_address(host, port)
    return Relay(
        address, port, sender, os.environ.get("SMTP_RELAY_USER"), os.environ.get("SMTP_RELAY_PASSWORD")
    )


async def _public_address(host: str, port: int) -> str:
    """The first address of ``host``, provided every address it resolves to is public."""
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise NodeError(f"Cannot resolve SMTP host {host!r}: {exc}", code=EMAIL_SEND_ERROR) from exc
    hosts = [str(info[4][0]) for info in infos]
    blocked = [ip for ip in hosts if not is_public_address(ip)]
    if blocked or not hosts:
        raise NodeError(
            f"{blocked[0] if blocked else host} is not a public address and private networks are not allowed",
            code=ErrorCode.BLOCKED_ADDRESS,
            retryable=False,
        )
    return hosts[0]


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


def _deliver(relay: Relay, message: EmailMessage, envelope: Envelope) -> None:
    """Blocking SMTP conversation (run in a thread); STARTTLS when offered, login when configured."""
    with smtplib.SMTP(relay.address, relay.port, timeout=SMTP_TIMEOUT_S) as smtp:
        smtp.ehlo()
        if smtp.has_extn("starttls"):
            smtp.starttls()
            smtp.ehlo()
        if relay.user:
            smtp.login(relay.user, relay.password or "")
        smtp.send_message(message, from_addr=relay.sender, to_addrs=envelope.recipients)


async def send(ctx: NodeContext, relay: Relay, message: EmailMessage, envelope: Envelope) -> None:
    ctx.count_api_call()
    try:
        await asyncio.to_thread(_deliver, relay, message, envelope)
    except smtplib.SMTPRecipientsRefused as exc:
        refused = ", ".join(exc.recipients)
        raise NodeError(
            f"The relay refused recipients: {refused}", code=EMAIL_SEND_ERROR, retryable=False
        ) from exc
    except (smtplib.SMTPException, OSError) as exc:
        raise NodeError(f"Sending the email failed: {exc}", code=EMAIL_SEND_ERROR) from exc


# --- the nodes -----------------------------------------------------------------------------------------


class EmailSend(NodeType):
    """Sends one email per input item through the SMTP relay and reports what was sent.

    ``retryAttempts`` from MetaBuilder is accepted but the executor's retry settings (``retryOnFail``)
    do the retrying, as for every node.
    """

    type = "email-send"
    display_name = "Send Email"
    description = "Sends an email through the configured SMTP relay, rendering {{key}} from 'data'."
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
            "smtpPort": or_template({"type": "integer", "minimum": 1}),
            "retryAttempts": or_template({"type": "integer", "minimum": 0}),
        },
        required=("to", "subject"),
    ) | {"anyOf": [{"required": ["body"]}, {"required": ["template"]}]}

    async def run(self, ctx: NodeContext, inputs: list[Items]) -> list[Items]:
        return await per_item_async(first_input(inputs), lambda index, item: self._send(ctx, index, item))

    async def _send(self, ctx: NodeContext, index: int, item: Item) -> dict[str, Any]:
        relay = await resolve_relay(ctx, index)
        draft = build_message(ctx, index, relay.sender)
        await send(ctx, relay, draft.message, draft.envelope)
        return {
            "messageId": str(draft.message["Message-ID"]),
            "from": relay.sender,
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
