"""Any operation over the REST API, by the route table the server serves (barto.api.doors):
what ``barto-cli mount`` calls the jobd namespace with. A refusal comes back as the error kind
the operation raised on the server (its code and message kept), so that the namespace answers
it as the 9P door would."""

from __future__ import annotations

import re
from typing import Any

import httpx
import msgspec

from barto.api.answers import ErrorBody
from barto.api.doors import BY_OPERATION
from barto.api.operations import Operation
from barto.api.requests import Request
from barto.cli.client import connection, leader, segment
from barto.config import CliConfig
from barto.errors import KINDS, BartoError, Unavailable

_FIELD = re.compile(r"\{(\w+)(?::path)?\}")


class Rest:
    """An async caller of the server named in ``[bartos]``; close it with :meth:`aclose`."""

    def __init__(self, config: CliConfig) -> None:
        self._http = httpx.AsyncClient(**connection(config))

    async def call(self, operation: Operation, request: Request) -> Any:
        """Do ``operation`` on the server; its answer decoded as the operation declares it.

        Raises:
            BartoError: of the kind the server said (Unavailable when it cannot be reached).
        """
        door = BY_OPERATION[operation.name]
        fields = {k: v for k, v in msgspec.to_builtins(request).items() if v is not None}
        path = _FIELD.sub(lambda m: segment(fields.pop(m.group(1))), door.path)
        params = {k: fields.pop(k) for k in door.query if k in fields}
        if door.method == "POST":
            body = fields.get(door.body, {}) if door.body else fields
            response = await self._send("POST", path, params=params, json=body)
        else:
            response = await self._send(door.method, path, params={**fields, **params})
        if response.status_code >= 400:
            raise _error(response)
        return msgspec.json.decode(response.content, type=operation.answer)

    async def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = await self._http.request(method, path, **kwargs)
            if (elsewhere := leader(response)) is not None:  # a standby: once to the leader
                response = await self._http.request(method, elsewhere, **kwargs)
        except httpx.TransportError as error:
            raise Unavailable("unreachable", f"cannot reach bartos: {error}") from None
        return response

    async def aclose(self) -> None:
        await self._http.aclose()


def _error(response: httpx.Response) -> BartoError:
    try:
        problem = msgspec.json.decode(response.content, type=ErrorBody).error
    except (msgspec.ValidationError, msgspec.DecodeError):
        return BartoError("http", f"HTTP {response.status_code}: {response.text.strip()[:200]}")
    return KINDS.get(problem.kind, BartoError)(problem.code, problem.message)
