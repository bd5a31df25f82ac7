"""Who may read ``/metrics``: an open server as the API is, a ``read`` token with tokens, anyone
with ``[metrics] open = true``; the body is Prometheus text that its own parser reads."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.inprocess import SECURED, bearer, serving

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    ("config", "caller", "status"),
    [
        (SECURED, None, 401),
        (SECURED, "worker", 403),
        (SECURED, "read", 200),
        (SECURED, "admin", 200),
        (SECURED + "\n[metrics]\nopen = true\n", None, 200),
        (SECURED + "\n[metrics]\nopen = true\n", "worker", 403),  # a worker's credential is still not a reader's
        ("", None, 200),
    ],
)
async def test_metrics_access(tmp_path: Path, config: str, caller: str | None, status: int) -> None:
    async with serving(tmp_path, config) as client:
        answer = await client.get("/metrics", headers=bearer(caller))
        assert answer.status_code == status, answer.text
        if status == 200:
            names = {family.name for family in text_string_to_metric_families(answer.text)}
            assert {"barto_runs", "barto_leader", "barto_workers_connected", "barto_schedules"} <= names
            assert {"barto_run_duration_seconds", "barto_dispatch_lateness_seconds"} <= names
        else:
            assert answer.json()["error"]["kind"] in ("unauthenticated", "forbidden")
        assert (await client.post("/metrics", headers=bearer("admin"))).status_code == 405


async def test_the_grafana_dashboard_and_the_docs_use_names_the_server_exports(tmp_path: Path) -> None:
    root = Path(__file__).parents[2]
    async with serving(tmp_path, "") as client:
        text = (await client.get("/metrics")).text
    exported = {s.name for f in text_string_to_metric_families(text) for s in f.samples}
    exported |= {f.name + ("_total" if f.type == "counter" else "") for f in text_string_to_metric_families(text)}
    dashboard = json.loads((root / "docs" / "grafana-dashboard.json").read_text())
    used = {n for p in dashboard["panels"] for t in p["targets"] for n in re.findall(r"barto_\w+", t["expr"])}
    documented = set(re.findall(r"`(barto_\w+)`", (root / "docs" / "metrics.md").read_text()))
    assert used
    assert used <= exported, used - exported
    assert documented <= exported, documented - exported
