"""A small typed HTTP client for the bartos REST API; every failure becomes :class:`CliError`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote

import msgspec

from barto.api.answers import ErrorBody
from barto.config import CliConfig
from barto.errors import BartoError

if TYPE_CHECKING:
    import httpx

T = TypeVar("T")


class CliError(BartoError):
    """What went wrong, as one line for the user."""

    code = "cli"


def segment(value: object) -> str:
    """``value`` as one URL path segment: ``/``, ``?``, ``#``, ``%`` and the rest encoded, so that
    a name is always the name (``remove w 'x?y=1#z'`` removes that, not ``x``)."""
    return quote(str(value), safe="")


def connection(config: CliConfig) -> dict[str, Any]:
    """What an httpx client of the server named in ``[bartos]`` is made with: its address, the
    token and the TLS settings."""
    link = config.bartos
    headers = {"Authorization": f"Bearer {link.api_key}"} if link.api_key else {}
    verify = link.ssl_context() if link.is_tls else True
    return {"base_url": link.url("http", ""), "headers": headers, "timeout": config.timeout_seconds, "verify": verify}


class Client:
    """Talks to ``/v1`` of the server named in ``[bartos]``."""

    def __init__(self, config: CliConfig) -> None:
        self.config = config
        settings = connection(config)
        self.base = settings["base_url"]
        import httpx  # imported by the commands that talk to a server, not by --help or calendar

        self._http = httpx.Client(**settings)
        self._unreachable = httpx.TransportError

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
                    if (elsewhere := leader(response)) is not None:
                        url = elsewhere
                        continue
                    _raise_for(response, read=True)
                    for line in response.iter_lines():
                        if line:
                            yield _decode(decoder, line.encode())
                    return
        except self._unreachable as error:
            raise CliError(f"cannot reach bartos at {self.base}: {error}") from None

    def _call(self, method: str, path: str, answer: type[T], **kwargs: Any) -> T:
        where = self.base
        try:
            response = self._http.request(method, path, **kwargs)
            if (elsewhere := leader(response)) is not None:
                where = f"{elsewhere} (the leader, as {self.base} says)"
                response = self._http.request(method, elsewhere, **kwargs)
        except self._unreachable as error:
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


def leader(response: httpx.Response) -> str | None:
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
