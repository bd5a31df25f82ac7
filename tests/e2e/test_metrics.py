"""``/metrics`` of a real bartos with a real bartoc, parsed with prometheus-client's own parser
and checked against what the store holds."""

from __future__ import annotations

from collections import Counter

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.harness import Barto, wait_for
from tests.e2e.secured import TOKENS, settings

SETTINGS = settings()
NEVER = "2099-01-01 00:00:00"
SCHEDULES = f"""
[schedules.w1]
schedules = [
  {{ name = "ok", on_calendar = "{NEVER}", cmds = ["echo fine"] }},
  {{ name = "bad", on_calendar = "{NEVER}", cmds = ["exit 3"] }},
  {{ name = "slow", on_calendar = "{NEVER}", cmds = ["sleep 4"], overlap = "skip" }},
]
"""
FINAL = "('succeeded', 'failed', 'timed_out', 'lost', 'missed', 'skipped', 'cancelled')"


def scrape(barto: Barto, token: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.get(f"http://127.0.0.1:{barto.port}/metrics", headers=headers, timeout=10)


def samples(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    found: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found.setdefault(sample.name, []).append((sample.labels, sample.value))
    return found


def test_metrics_agree_with_the_store_and_need_a_read_token(barto: Barto) -> None:
    barto.start_server(SCHEDULES, SETTINGS)
    barto.use_server(barto.port, f"api_key = '{TOKENS['boss'][1]}'")
    barto.start_worker("w1", link=f"api_key = '{TOKENS['w1'][1]}'")
    for name in ("ok", "ok", "bad", "ok", "bad", "slow"):
        assert barto.cli("run-now", "-w", "w1", name).returncode == 0
    assert barto.cli("run-now", "-w", "w1", "slow").returncode == 1  # while the first goes on: skipped (overlap)
    wait_for(lambda: not barto.rows(f"SELECT id FROM runs WHERE state NOT IN {FINAL}"), 30, "every run to end")

    assert scrape(barto, None).status_code == 401
    assert scrape(barto, TOKENS["w1"][1]).status_code == 403
    answer = scrape(barto, TOKENS["viewer"][1])
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
    found = samples(answer.text)

    stored = Counter({(state, reason or ""): n for state, reason, n in barto.rows(
        f"SELECT state, reason, COUNT(*) FROM runs WHERE state IN {FINAL} GROUP BY state, reason")})  # fmt: skip
    counted = Counter({(labels["state"], labels["reason"]): value for labels, value in found["barto_runs_total"]})
    assert counted == stored
    assert (stored[("succeeded", "")], stored[("failed", "")], stored[("skipped", "overlap")]) == (4, 2, 1)

    def value(name: str, **labels: str) -> float:
        return next(v for got, v in found[name] if got == labels)

    assert value("barto_workers_connected") == 1
    wait_for(lambda: "barto_outbox_backlog{" in scrape(barto, TOKENS["viewer"][1]).text, 10, "a heartbeat's backlog")
    backlog = samples(scrape(barto, TOKENS["viewer"][1]).text)["barto_outbox_backlog"]
    assert [(labels, v) for labels, v in backlog] == [({"worker": "w1"}, 0.0)]  # every event acknowledged
    assert value("barto_leader") == 1
    assert value("barto_schedules", source="config", paused="false") == 3
    assert value("barto_runs_unfinished", state="running") == 0
    ran = barto.rows("SELECT COUNT(*) FROM runs WHERE started_at IS NOT NULL AND state IN ('succeeded', 'failed')")
    assert value("barto_run_duration_seconds_count") == ran[0][0] == 6
    assert value("barto_run_duration_seconds_bucket", le="+Inf") == 6
    assert value("barto_dispatch_lateness_seconds_count") >= 6
    assert value("barto_store_statement_seconds_count") > 0
