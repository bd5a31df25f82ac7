"""Output you can trust to be complete: barto-cli pages through the API past its page size."""

from __future__ import annotations

import json
import subprocess

from tests.e2e.harness import BIN, Barto, wait_for
from tests.e2e.test_faults import YEARLY, run_now, toml, wait_state

LINES = 150_001  # more than the server's page of 100,000 lines


def test_output_and_tail_print_every_line_past_the_page_size(barto: Barto) -> None:
    barto.start_server(toml("w1", {"name": "many", "on_calendar": YEARLY, "cmds": [f"seq 1 {LINES}"]}))
    barto.start_worker("w1")
    run_id = run_now(barto, "many")
    wait_state(barto, run_id, "succeeded", timeout=120)
    wait_for(lambda: barto.rows("SELECT lines FROM runs WHERE id = ?", run_id) == [(LINES,)], 60, "all lines")
    command = [str(BIN / "barto-cli"), "-c", str(barto.root / "barto-cli.toml")]
    for verb in ("output", "tail"):
        shown = subprocess.run(
            [*command, verb, str(run_id)], env=barto.env, capture_output=True, text=True, timeout=120
        )
        assert shown.returncode == 0, shown.stderr
        printed = shown.stdout.splitlines()
        assert len(printed) == LINES
        assert printed[-1].endswith(f"[stdout] {LINES}")
    as_json = subprocess.run(
        [*command, "output", str(run_id), "--json"], env=barto.env, capture_output=True, timeout=120
    )
    assert [line["seq"] for line in json.loads(as_json.stdout)] == list(range(1, LINES + 1))
