"""Mutation fuzzing of barto's readers at volume (tests/fuzzing.py; CI runs a bounded count).

    uv run python bench/fuzz.py --count 1000000

Prints a table (inputs, refused as documented, findings, hangs, slowest input, time) per target
and a JSON line; the first few findings are printed with their inputs.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests import fuzzing


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=100_000, help="inputs per target")
    parser.add_argument("--only", default="", help="targets whose name contains this")
    args = parser.parse_args()
    results = {}
    print(f"{'target':<18}{'inputs':>10}{'refused':>10}{'findings':>10}{'hangs':>7}{'slowest s':>11}{'time s':>9}")
    for name, (target, refused, seeds) in fuzzing.targets().items():
        if args.only not in name:
            continue
        started = time.perf_counter()
        tally = fuzzing.run(target, refused, fuzzing.mutations(seeds, random.Random(name)), args.count)
        took = time.perf_counter() - started
        results[name] = {
            "inputs": tally.inputs,
            "refused": tally.refused,
            "findings": len(tally.findings),
            "hangs": len(tally.hangs),
            "slowest_s": round(tally.slowest, 4),
            "seconds": round(took, 1),
        }
        print(
            f"{name:<18}{tally.inputs:>10}{tally.refused:>10}{len(tally.findings):>10}{len(tally.hangs):>7}"
            f"{tally.slowest:>11.4f}{took:>9.1f}",
            flush=True,
        )
        for text, what in tally.findings[:3]:
            print(f"    finding: {what}\n      input: {text[:200]!r}")
    print(json.dumps({"bench": "fuzz", "count": args.count, "targets": results}))


if __name__ == "__main__":
    main()
