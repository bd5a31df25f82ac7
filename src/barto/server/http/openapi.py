"""``/openapi.json``, generated from the REST doors and the operations they serve: parameters
with their types and bounds, bodies, every status an operation can answer, the bearer scheme,
the error shape (barto.api.answers.ErrorBody), and each operation's role (``x-barto-role``)."""

from __future__ import annotations

import re
from typing import Any

import msgspec

import barto
from barto.api.answers import ErrorBody
from barto.api.operations import Operation, Role
from barto.server.http.doors import DOORS, Door

_ERRORS = {
    "400": "invalid request (a name, a number, a body)",
    "404": "not found",
    "409": "refused in the present state (worker offline, run ended, schedule owned by the config file)",
    "503": "a part this needs is unavailable",
}
_SECURED = {"401": "missing or unknown bearer token", "403": "the token's role is not enough"}


def document() -> dict[str, Any]:
    """The OpenAPI 3.1 document."""
    types = _types()
    schemas, components = msgspec.json.schema_components(types, ref_template="#/components/schemas/{name}")
    lookup = dict(zip(types, schemas, strict=True))
    paths: dict[str, dict[str, Any]] = {}
    for door in DOORS:
        paths.setdefault(_template(door.path), {})[door.method.lower()] = _operation(door, lookup, components)
    return {
        "openapi": "3.1.0",
        "info": {"title": "bartos", "version": barto.__version__},
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
    }


def _types() -> list[Any]:
    found: list[Any] = [ErrorBody]
    for door in DOORS:
        for operation in (door.operation, door.stream):
            if operation is not None:
                for kind in (operation.request, operation.answer):
                    if kind not in found:
                        found.append(kind)
    return found


def _template(path: str) -> str:
    return re.sub(r"\{(\w+):\w+\}", r"{\1}", path)


def _operation(door: Door, lookup: dict[Any, Any], components: dict[str, Any]) -> dict[str, Any]:
    operation = door.operation
    request_schema: dict[str, Any] = components[lookup[operation.request]["$ref"].rsplit("/", 1)[-1]]
    properties: dict[str, Any] = request_schema.get("properties", {})
    required = set(request_schema.get("required", ()))
    in_path = re.findall(r"\{(\w+)", door.path)
    parameters = [_parameter(name, "path", properties.get(name, {"type": "string"}), True) for name in in_path]
    in_query = door.query if door.method == "POST" else tuple(p for p in properties if p not in in_path)
    parameters += [_parameter(name, "query", properties[name], name in required) for name in in_query]
    if door.stream is not None:
        parameters.append(_parameter(door.flag, "query", {"type": "boolean"}, False, stream=door.stream))
    described: dict[str, Any] = {
        "operationId": operation.name,
        "summary": operation.summary,
        "x-barto-role": operation.role.value,
        "responses": _responses(door, lookup),
    }
    if parameters:
        described["parameters"] = parameters
    if door.method == "POST":
        described["requestBody"] = _body(door, properties, required, in_path)
    if operation.role is Role.OPEN:
        described["security"] = []
    return described


def _parameter(name: str, where: str, schema: Any, required: bool, stream: Operation | None = None) -> dict[str, Any]:
    found = {"name": name, "in": where, "required": required, "schema": schema}
    if stream is not None:
        found["description"] = f"1: {stream.summary.lower()}, as NDJSON (one item a line; blank lines keep alive)"
    return found


def _body(door: Door, properties: dict[str, Any], required: set[str], in_path: list[str]) -> Any:
    if door.body is not None:
        schema = properties[door.body]
    else:
        fields = {k: v for k, v in properties.items() if k not in in_path and k not in door.query}
        schema = {"type": "object", "properties": fields, "additionalProperties": False}
        if need := sorted(required & set(fields)):
            schema["required"] = need
    return {"required": door.body is not None, "content": {"application/json": {"schema": schema}}}


def _responses(door: Door, lookup: dict[Any, Any]) -> dict[str, Any]:
    operation = door.operation
    ok: dict[str, Any] = {
        "description": "success",
        "content": {"application/json": {"schema": lookup[operation.answer]}},
    }
    if door.stream is not None:
        ok["content"]["application/x-ndjson"] = {"schema": lookup[door.stream.answer]}
    responses: dict[str, Any] = {str(door.status): ok}
    error = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}}
    codes = dict(_ERRORS) if operation.role is Role.OPEN else {**_ERRORS, **_SECURED}
    if door.method == "POST":  # [limits]: a body too large, or too slow to arrive
        codes["408"] = "the request's body took longer than [limits] body_seconds"
        codes["413"] = "the request's body is larger than [limits] body_bytes"
    if operation.name == "query":
        codes["504"] = "the statement ran longer than [query] seconds and was cancelled"
    if operation.name.startswith("programs.ctl."):
        codes["502"] = "the worker's supervisor failed or the worker disconnected"
        codes["504"] = "the worker did not answer in time"
    for code, description in sorted(codes.items()):
        responses[code] = {"description": description, **error}
    return responses
