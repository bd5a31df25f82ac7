"""Sending one alert through one channel: a signed webhook, an email over SMTP, a command with
the event on its stdin. Each raises :class:`SendError` with a line for the log and the alerts
list when the other side did not take it; the caller retries."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import signal
import smtplib
import ssl
from email.message import EmailMessage

import httpx

import barto
from barto.config.alerts import Alert, Email, Webhook

COMMAND_SECONDS = 30.0


class SendError(Exception):
    """The channel did not take the alert; the message says why."""


def signature(secret: str, body: bytes) -> str:
    """The ``X-Barto-Signature`` value of ``body``: GitHub's convention, sha256=<hex HMAC>."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


async def send(alert: Alert, channel: str, body: bytes, delivery: int) -> None:
    """Send ``body`` (the event's JSON) through ``alert``'s ``channel``.

    Raises:
        SendError: it was not taken.
    """
    if channel == "webhook" and alert.webhook is not None:
        await _webhook(alert.webhook, body, delivery)
    elif channel == "email" and alert.email is not None:
        await asyncio.to_thread(_email, alert.email, body)
    elif channel == "command" and alert.command is not None:
        await _command(alert.command, body)
    else:
        raise SendError(f"the alert has no {channel} any more")


async def _webhook(hook: Webhook, body: bytes, delivery: int) -> None:
    event = json.loads(body)["event"]
    headers = {
        "Content-Type": "application/json",
        "User-Agent": f"barto/{barto.__version__}",
        "X-Barto-Event": event,
        "X-Barto-Delivery": str(delivery),
    }
    if hook.secret:
        headers["X-Barto-Signature"] = signature(hook.secret, body)
    try:
        async with httpx.AsyncClient(timeout=hook.timeout_secs, follow_redirects=False) as client:
            answer = await client.post(hook.url, content=body, headers=headers)
    except httpx.HTTPError as error:
        raise SendError(f"webhook: {type(error).__name__}: {error}") from None
    if not 200 <= answer.status_code < 300:
        raise SendError(f"webhook: HTTP {answer.status_code}: {answer.text[:200]}")


def _email(mail: Email, body: bytes) -> None:
    event = json.loads(body)
    message = EmailMessage()
    message["Subject"] = f"[barto] {event['event']}: {event['subject']}"
    message["From"] = mail.from_
    message["To"] = ", ".join(mail.to)
    message.set_content(f"{event['message']}\n\n{json.dumps(event, indent=2, sort_keys=True)}\n")
    context = ssl.create_default_context()
    try:
        if mail.tls:
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(mail.host, mail.port, timeout=mail.timeout_secs, context=context)
        else:
            smtp = smtplib.SMTP(mail.host, mail.port, timeout=mail.timeout_secs)
        with smtp:
            if mail.starttls:
                smtp.starttls(context=context)
            if mail.username is not None and mail.password is not None:
                smtp.login(mail.username, mail.password)
            smtp.send_message(message)
    except (OSError, smtplib.SMTPException) as error:
        raise SendError(f"email: {type(error).__name__}: {error}") from None


async def _command(argv: list[str], body: bytes) -> None:
    """Run ``argv`` with the event on stdin, in its own process group; killed after
    :data:`COMMAND_SECONDS`. Exit 0 means delivered."""
    try:
        process = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE, start_new_session=True,
        )  # fmt: skip
    except OSError as error:
        raise SendError(f"command: cannot start {argv[0]!r}: {error.strerror}") from None
    try:
        async with asyncio.timeout(COMMAND_SECONDS):
            _, err = await process.communicate(body)
    except TimeoutError:
        os.killpg(process.pid, signal.SIGKILL)
        await process.wait()
        raise SendError(f"command: {argv[0]!r} did not end within {COMMAND_SECONDS:g} s; killed") from None
    finally:
        if process.returncode is None:  # cancelled: the command does not outlive the server's stop
            os.killpg(process.pid, signal.SIGKILL)
            await process.wait()
    if process.returncode != 0:
        raise SendError(f"command: {argv[0]!r} exited {process.returncode}: {err.decode(errors='replace')[-200:]}")
