"""A small typed HTTP client for the bartos REST API; every failure becomes :class:`CliError`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx

from barto.config import CliConfig


class CliError(Exception):
    """What went wrong, as one line for the user."""


def segment(value: object) -> str:
    """``value`` as one URL path segment: ``/``, ``?``, ``#``, ``%`` and the rest encoded, so that
    a name is always the name (``remove w 'x?y=1#z'`` removes that, not ``x``)."""
    return quote(str(value), safe="")


class Client:
    """Talks to ``/v1`` of the server named in ``[bartos]``."""

    def __init__(self, config: CliConfig) -> None:
        link = config.bartos
        self.base = link.url("http", "")
        headers = {"Authorization": f"Bearer {link.api_key}"} if link.api_key else {}
        verify = link.ssl_context() if link.is_tls else True
        self._http = httpx.Client(base_url=self.base, headers=headers, timeout=config.timeout_seconds, verify=verify)

    def get(self, path: str, **params: Any) -> Any:
        """GET ``path`` and decode its JSON."""
        return self._call("GET", path, params={k: v for k, v in params.items() if v is not None})

    def post(self, path: str, body: dict[str, Any] | None = None, *, timeout: float | None = None) -> Any:
        """POST ``body`` as JSON to ``path`` and decode the answer (``timeout``: longer than the
        configured one, for requests that take time by nature)."""
        extra = {"timeout": timeout} if timeout is not None else {}
        return self._call("POST", path, json=body or {}, **extra)

    def delete(self, path: str) -> Any:
        """DELETE ``path`` and decode the answer."""
        return self._call("DELETE", path)

    def stream_lines(
        self, path: str, *, method: str = "GET", body: dict[str, Any] | None = None, **params: Any
    ) -> Iterator[dict[str, Any]]:
        """Follow an NDJSON stream until the server ends it."""
        url = path
        try:
            for _ in range(2):  # a standby's redirect to the leader, then the leader
                with self._http.stream(method, url, params=params, json=body, timeout=None) as response:
                    if (leader := _leader(response)) is not None:
                        url = leader
                        continue
                    _raise_for(response, read=True)
                    for line in response.iter_lines():
                        if line:
                            yield json.loads(line)
                    return
        except httpx.TransportError as error:
            raise CliError(f"cannot reach bartos at {self.base}: {error}") from None

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        where = self.base
        try:
            response = self._http.request(method, path, **kwargs)
            if (leader := _leader(response)) is not None:
                where = f"{leader} (the leader, as {self.base} says)"
                response = self._http.request(method, leader, **kwargs)
        except httpx.TransportError as error:
            raise CliError(f"cannot reach bartos at {where}: {str(error) or type(error).__name__}") from None
        _raise_for(response)
        return response.json()


def _leader(response: httpx.Response) -> str | None:
    """Where a standby sends us (307 to the leader); followed once, by us, because httpx drops
    the Authorization header on a redirect to another host."""
    if response.status_code != 307:
        return None
    location = response.headers.get("location")
    return location.split("?", 1)[0] if location else None


def _raise_for(response: httpx.Response, *, read: bool = False) -> None:
    if response.status_code < 400:
        return
    if read:
        response.read()
    try:
        message = response.json()["error"]["message"]
    except (ValueError, KeyError, TypeError):
        message = response.text.strip() or response.reason_phrase
    raise CliError(f"{message} (HTTP {response.status_code})")
