"""A small typed HTTP client for the bartos REST API; every failure becomes :class:`CliError`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
import msgspec

from barto.api.answers import ErrorBody
from barto.config import CliConfig
from barto.errors import BartoError

T = TypeVar("T")


class CliError(BartoError):
    """What went wrong, as one line for the user."""

    code = "cli"


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

    def get(self, path: str, answer: type[T], **params: Any) -> T:
        """GET ``path`` and decode its answer as ``answer`` (one of barto.api's records)."""
        return self._call("GET", path, answer, params={k: v for k, v in params.items() if v is not None})

    def post(
        self, path: str, answer: type[T], body: dict[str, Any] | None = None, *, timeout: float | None = None
    ) -> T:
        """POST ``body`` as JSON to ``path`` and decode the answer (``timeout``: longer than the
        configured one, for requests that take time by nature)."""
        extra = {"timeout": timeout} if timeout is not None else {}
        return self._call("POST", path, answer, json=body or {}, **extra)

    def delete(self, path: str, answer: type[T]) -> T:
        """DELETE ``path`` and decode the answer."""
        return self._call("DELETE", path, answer)

    def stream(
        self, path: str, item: type[T], *, method: str = "GET", body: dict[str, Any] | None = None, **params: Any
    ) -> Iterator[T]:
        """Follow an NDJSON stream of ``item`` records until the server ends it."""
        url = path
        decoder = msgspec.json.Decoder(item)
        try:
            for _ in range(2):  # a standby's redirect to the leader, then the leader
                with self._http.stream(method, url, params=params, json=body, timeout=None) as response:
                    if (leader := _leader(response)) is not None:
                        url = leader
                        continue
                    _raise_for(response, read=True)
                    for line in response.iter_lines():
                        if line:
                            yield _decode(decoder, line.encode())
                    return
        except httpx.TransportError as error:
            raise CliError(f"cannot reach bartos at {self.base}: {error}") from None

    def _call(self, method: str, path: str, answer: type[T], **kwargs: Any) -> T:
        where = self.base
        try:
            response = self._http.request(method, path, **kwargs)
            if (leader := _leader(response)) is not None:
                where = f"{leader} (the leader, as {self.base} says)"
                response = self._http.request(method, leader, **kwargs)
        except httpx.TransportError as error:
            raise CliError(f"cannot reach bartos at {where}: {str(error) or type(error).__name__}") from None
        _raise_for(response)
        return _decode(msgspec.json.Decoder(answer), response.content)


def _decode(decoder: msgspec.json.Decoder[T], data: bytes) -> T:
    """The server's answer as the record it should be; one that is not is the server's fault
    (another version?), said in one line."""
    try:
        return decoder.decode(data)
    except (msgspec.ValidationError, msgspec.DecodeError) as error:
        raise CliError(f"the server answered something this barto-cli does not understand: {error}") from None


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
        message = msgspec.json.decode(response.content, type=ErrorBody).error.message
    except (msgspec.ValidationError, msgspec.DecodeError):  # a proxy's page, say
        message = response.text.strip() or response.reason_phrase
    raise CliError(f"{message} (HTTP {response.status_code})")
