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


LONG = 200_000  # bytes: more than three of the worker's 64 KiB pieces
ODD = r"printf 'nul\000here \377 back\\slash\n'"  # NUL, a byte that is not UTF-8, a backslash


def _odd_output(barto: Barto) -> None:
    command = f"head -c {LONG} /dev/zero | tr '\\0' y; echo; {ODD}; echo plain"
    barto.start_server(toml("w1", {"name": "odd", "on_calendar": YEARLY, "cmds": [command]}))
    barto.start_worker("w1")
    run_id = run_now(barto, "odd")
    wait_for(lambda: any(r["id"] == run_id and r["state"] == "succeeded" for r in barto.runs()), 60, "the run")
    stored = barto.cli_json("output", str(run_id))
    assert [len(line["data"]) for line in stored[:4]] == [65536, 65536, 65536, LONG - 3 * 65536]
    assert [line["continues"] for line in stored] == [True, True, True, False, False, False]
    assert stored[4]["data"] == "nul\\x00here \\xff back\\\\slash"
    assert [line["escaped"] for line in stored] == [False] * 4 + [True, False]
    shown = barto.cli("output", str(run_id)).stdout.splitlines()
    assert len(shown) == 3  # the long line joined back into one
    assert shown[0].endswith("[stdout] " + "y" * LONG)
    assert shown[1].endswith("[stdout] nul\\x00here \\xff back\\\\slash")  # shown escaped
    assert shown[2].endswith("[stdout] plain")


def test_long_lines_are_joined_and_odd_bytes_kept_on_sqlite(barto: Barto) -> None:
    _odd_output(barto)


def test_long_lines_are_joined_and_odd_bytes_kept_on_a_server_database(on_server_database: Barto) -> None:
    """PostgreSQL's text cannot hold NUL: the escaped form is what makes it storable there."""
    _odd_output(on_server_database)
