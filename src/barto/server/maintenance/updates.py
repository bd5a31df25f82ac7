"""barto's ``updates`` report: package updates parsed from the output of update-check jobs.

Pure functions over output lines; the patterns are barto's (reference §5.4).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Sequence
from typing import Any

_ARCH = r"\/([^ ]+)\s+([^ ]+)\s+([^ ]+)\s+(.+ MiB)\s+(.+ MiB)"
_GARUDA = re.compile(r"(chaotic-aur|core|extra|garuda|multilib)" + _ARCH)
_CACHYOS = re.compile(r"(cachyos|cachyos-.*|core|extra|multilib)" + _ARCH)
_PACKAGES = re.compile(r"Packages \((\d+)\) (.*)")
_SIZES = {
    "download": re.compile(r"Total Download Size:\s+(\d+\.\d+) MiB"),
    "installed": re.compile(r"Total Installed Size:\s+(\d+\.\d+) MiB"),
    "net": re.compile(r"Net Upgrade Size:\s+(\d+\.\d+) MiB"),
}
_APT_HEADER = "The following packages will be upgraded:"


def garuda(lines: Sequence[str]) -> list[dict[str, str]]:
    """Package rows of ``garuda-update``, sorted by (channel, package)."""
    keys = ("channel", "package", "old", "new", "size_change", "download_size")
    rows = [dict(zip(keys, m.groups(), strict=True)) for line in lines if (m := _GARUDA.search(line))]
    return sorted(rows, key=lambda r: (r["channel"], r["package"]))


def pacman(lines: Sequence[str]) -> dict[str, Any]:
    """Count, names and sizes summed over pacman's ``Packages (n) ...`` summary lines."""
    count, packages = 0, list[str]()
    for line in lines:
        if match := _PACKAGES.search(line):
            count += int(match.group(1))
            packages += match.group(2).split()
    return {"count": count, "packages": packages, **_sizes(lines)}


def cachyos(lines: Sequence[str]) -> dict[str, Any]:
    """Packages from CachyOS' table lines, with pacman's size totals."""
    packages = [m.group(2) for line in lines if (m := _CACHYOS.search(line))]
    return {"count": len(packages), "packages": packages, **_sizes(lines)}


def apt(lines: Sequence[str]) -> list[str]:
    """Package names from the line after each ``The following packages will be upgraded:``."""
    return [name for before, after in itertools.pairwise(lines) if before == _APT_HEADER for name in after.split()]


def _sizes(lines: Sequence[str]) -> dict[str, float]:
    return {
        key: sum(float(m.group(1)) for line in lines if (m := pattern.search(line))) for key, pattern in _SIZES.items()
    }


PARSERS: dict[str, Callable[[Sequence[str]], Any]] = {
    "garuda": garuda,
    "pacman": pacman,
    "cachyos": cachyos,
    "apt": apt,
}


def is_empty(report: Any) -> bool:
    """Whether a parser found nothing."""
    return not report or (isinstance(report, dict) and not report.get("count"))
