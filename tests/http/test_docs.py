"""The documents generated from the declarations say what the code does."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from barto.server.http.doors import role_table
from tests.inprocess import bearer, serving

pytestmark = pytest.mark.anyio
DOCS = Path(__file__).parents[2] / "docs"


def test_the_role_table_of_the_security_guide_is_the_declared_one() -> None:
    text = (DOCS / "security.md").read_text()
    found = re.search(
        r"<!-- role-table: generated, see tests/http/test_docs.py -->\n(.*?)<!-- /role-table -->", text, re.S
    )
    assert found is not None
    assert found.group(1) == role_table(), (
        "regenerate the table: python -c 'from barto.server.http.doors import role_table; print(role_table())'"
    )


async def test_openapi_declares_parameters_types_statuses_and_security(tmp_path: Path) -> None:
    async with serving(tmp_path) as client:
        answer = await client.get("/openapi.json")  # open: no token
        assert answer.status_code == 200
        document: dict[str, Any] = answer.json()
    assert document["components"]["securitySchemes"] == {"bearer": {"type": "http", "scheme": "bearer"}}
    paths = document["paths"]
    runs = paths["/v1/runs"]["get"]
    params = {p["name"]: p for p in runs["parameters"]}
    assert set(params) == {"schedule", "worker", "state", "since", "until", "before", "limit"}
    assert params["limit"]["in"] == "query"
    assert params["limit"]["schema"] == {"type": "integer", "minimum": 1, "maximum": 100000, "default": 50}
    assert set(runs["responses"]) >= {"200", "400", "401", "403"}
    run = paths["/v1/runs/{run_id}"]["get"]
    (run_id,) = run["parameters"]
    assert (run_id["in"], run_id["schema"]["type"], run_id["schema"]["maximum"]) == ("path", "integer", 2**63 - 1)
    assert "201" in paths["/v1/schedules/{worker}"]["post"]["responses"]
    assert "202" in paths["/v1/runs/{run_id}/cancel"]["post"]["responses"]
    assert paths["/healthz"]["get"]["security"] == []
    assert paths["/v1/schedules/{worker}/{name}"]["delete"]["x-barto-role"] == "admin"
    follow = {p["name"] for p in paths["/v1/runs/{run_id}/output"]["get"]["parameters"]}
    assert follow == {"run_id", "after", "limit", "follow"}
    body = paths["/v1/schedules/{worker}/{name}/backfill"]["post"]["requestBody"]["content"]["application/json"]
    assert set(body["schema"]["properties"]) == {"from", "to"}
    schemas = document["components"]["schemas"]
    assert schemas["ErrorBody"]["properties"]["error"] == {"$ref": "#/components/schemas/Problem"}
    assert schemas["Problem"]["required"] == ["code", "kind", "message"]


async def test_every_documented_path_answers_json(tmp_path: Path) -> None:
    """Each path of the document exists: a GET of every GET path answers JSON, not a 404 page."""
    async with serving(tmp_path) as client:
        document = (await client.get("/openapi.json")).json()
        for path, methods in document["paths"].items():
            if "get" not in methods or "{" in path:
                continue
            answer = await client.get(path, headers=bearer("admin"))
            if path == "/v1/btu":  # this server has no [btu]: it says so
                assert (answer.status_code, answer.json()["error"]["code"]) == (409, "btu_off")
                continue
            assert answer.status_code == 200, (path, answer.text)
            assert answer.headers["content-type"] == "application/json", path
