"""``systemd-analyze calendar`` as a test oracle, and a generator of expressions to feed it."""

from __future__ import annotations

import os
import random
import re
import shutil
import subprocess
from dataclasses import dataclass

SYSTEMD_ANALYZE = shutil.which("systemd-analyze")
_BLOCK_TIME = re.compile(r"(?:Next elapse|Iter\. #\d+): (.*)$")
_FAILED = re.compile(r"^Failed to (parse calendar specification|determine next elapse for) '(.*)': ")


@dataclass(frozen=True)
class Verdict:
    """What systemd says of one expression: normalized form and elapses, or a rejection."""

    accepted: bool
    normalized: str | None = None
    elapses: tuple[str, ...] = ()  # "Mon 2025-10-20 12:00:00 UTC"; empty = never
    gave_up: bool = False  # accepted, then "Failed to determine next elapse" (systemd's loop valve)


def ask_systemd(exprs: list[str], base: str, iterations: int) -> dict[str, Verdict]:
    """Run one ``systemd-analyze calendar`` over many expressions (TZ=UTC, so no local lines)."""
    assert SYSTEMD_ANALYZE is not None
    env = {"TZ": "UTC", "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "SYSTEMD_COLORS": "0"}
    done = subprocess.run(
        [SYSTEMD_ANALYZE, "calendar", f"--base-time={base}", f"--iterations={iterations}",
         "--", *exprs],
        capture_output=True, text=True, env=env, timeout=600, check=False,
    )  # fmt: skip
    failed = {}
    for line in done.stderr.splitlines():
        match = _FAILED.match(line)
        if match:
            failed[match.group(2)] = match.group(1).startswith("parse")
    blocks = iter(b for b in done.stdout.split("\n\n") if b.strip())
    verdicts = {}
    for expr in exprs:
        if expr in failed:
            parse_failed = failed[expr]
            verdicts[expr] = Verdict(accepted=not parse_failed, gave_up=not parse_failed)
            continue
        verdicts[expr] = _read_block(next(blocks))
    return verdicts


def _read_block(block: str) -> Verdict:
    normalized, elapses = None, []
    for line in block.splitlines():
        name, _, value = line.strip().partition(": ")
        if name == "Normalized form":
            normalized = value
        match = _BLOCK_TIME.search(line)
        if match and match.group(1) != "never":
            elapses.append(match.group(1))
    return Verdict(accepted=True, normalized=normalized, elapses=tuple(elapses))


ZONES = ("UTC", "utc", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe",
         "Pacific/Apia", "Asia/Kolkata", "Nowhere/Atlantis", "Etc/GMT+5")  # fmt: skip
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun", "Monday", "Tuesday", "Wednesday",
         "Thursday", "Friday", "Saturday", "Sunday", "mon", "FRI", "sUnDaY", "Funday")  # fmt: skip
_SHORT = ("minutely", "hourly", "daily", "weekly", "monthly", "yearly", "annually", "anually",
          "quarterly", "semiannually", "semi-annually", "biannually", "bi-annually", "DAILY",
          "Weekly", "fortnightly")  # fmt: skip


class Corpus:
    """Random calendar expressions, mostly valid, some broken on purpose."""

    def __init__(self, seed: int, *, noise: bool = True) -> None:
        self.rng = random.Random(seed)
        self.noise = noise  # random strings of calendar characters too

    def expression(self) -> str:
        rng = self.rng
        roll = rng.random()
        if roll < 0.05:
            text = rng.choice(_SHORT)
        elif roll < 0.07:
            text = f"@{rng.choice([0, 1, 1700000000, 1761000000, 7258118400, -1])}"
        elif roll < 0.09 and self.noise:
            text = "".join(rng.choice("*-:.,~/ 0123456789R@MonTue") for _ in range(rng.randint(1, 12)))
        else:
            text = " ".join(p for p in (self.weekdays(), self.date(), self.time()) if p)
        if rng.random() < 0.25:
            text += " " + rng.choice(ZONES)
        return text or "*"

    def weekdays(self) -> str:
        if self.rng.random() < 0.7:
            return ""
        items = []
        for _ in range(self.rng.randint(1, 3)):
            day = self.rng.choice(_DAYS)
            if self.rng.random() < 0.4:
                day += self.rng.choice(["..", "-", "."]) + self.rng.choice(_DAYS)
            items.append(day)
        return ",".join(items) + ("," if self.rng.random() < 0.05 else "")

    def date(self) -> str:
        roll = self.rng.random()
        if roll < 0.3:
            return ""
        sep = "~" if self.rng.random() < 0.15 else "-"
        month, day = self.field(1, 12), self.field(1, 31)
        if roll < 0.5:
            return f"{month}{sep}{day}"
        year = self.field(1970, 2199) if self.rng.random() < 0.5 else self.field(0, 99)
        return f"{year}-{month}{sep}{day}"

    def time(self) -> str:
        roll = self.rng.random()
        if roll < 0.2:
            return ""
        hm = f"{self.field(0, 23)}:{self.field(0, 59)}"
        if roll < 0.45:
            return hm
        return f"{hm}:{self.field(0, 59, fractions=True)}"

    def field(self, low: int, high: int, *, fractions: bool = False) -> str:
        rng = self.rng
        if rng.random() < 0.35:
            return "*"
        return ",".join(self.item(low, high, fractions) for _ in range(rng.choice([1, 1, 1, 2, 3])))

    def item(self, low: int, high: int, fractions: bool) -> str:
        rng = self.rng

        def number() -> str:
            value = rng.randint(low, high + (1 if rng.random() < 0.1 else 0))
            text = f"{value:02d}" if rng.random() < 0.5 else str(value)
            if fractions and rng.random() < 0.3:
                text += "." + str(rng.randint(0, 999999999))[: rng.randint(1, 8)]
            return text

        roll = rng.random()
        if roll < 0.4:
            return number()
        if roll < 0.55:
            return f"{number()}..{number()}"
        if roll < 0.6:
            same = number()
            return f"{same}..{same}"  # equal ends: systemd keeps minutes, refuses seconds
        if roll < 0.7:
            return self.near_the_end(low, high)
        step = str(rng.randint(1, max(2, (high - low) // 2 + 2)))
        if fractions and rng.random() < 0.3:
            step += ".5"
        if roll < 0.85:
            return f"{number()}/{step}"
        return f"{number()}..{number()}/{step}"

    def near_the_end(self, low: int, high: int) -> str:
        """A repetition whose first step lands just inside, on, or just past the field's end."""
        start = self.rng.randint(max(low, high - 10), high)
        step = max(1, high - start + self.rng.choice((-1, 0, 1, 2)))
        return f"{start}/{step}"
