"""barto's ``updates`` parsers against the upstream vectors (reference §5.4)."""

from __future__ import annotations

from barto.server.maintenance.updates import apt, cachyos, garuda, is_empty, pacman


def test_garuda_row() -> None:
    rows = garuda(["extra/kio    6.19.0-1     6.19.0-2       0.00 MiB       3.59 MiB"])
    assert rows == [
        {
            "channel": "extra",
            "package": "kio",
            "old": "6.19.0-1",
            "new": "6.19.0-2",
            "size_change": "0.00 MiB",
            "download_size": "3.59 MiB",
        }
    ]


def test_garuda_sorts_by_channel_then_package() -> None:
    lines = [
        "extra/kio    6.19.0-1     6.19.0-2       0.00 MiB       3.59 MiB",
        "core/glibc   2.41-1 2.41-2 1.00 MiB 5.00 MiB",
        "some unrelated line",
    ]
    assert [(r["channel"], r["package"]) for r in garuda(lines)] == [("core", "glibc"), ("extra", "kio")]


def test_pacman_sums_counts_names_and_sizes() -> None:
    lines = [
        "Packages (2) foo bar",
        "Total Download Size:   1.50 MiB",
        "Total Installed Size:  2.00 MiB",
        "Net Upgrade Size:   0.50 MiB",
    ]
    assert pacman(lines) == {
        "count": 2,
        "packages": ["foo", "bar"],
        "download": 1.5,
        "installed": 2.0,
        "net": 0.5,
    }


def test_cachyos_counts_table_rows() -> None:
    lines = [
        "core/foo 1.0 2.0 0.00 MiB 3.00 MiB",
        "extra/bar 1.0 2.0 0.00 MiB 1.00 MiB",
        "Total Download Size:   4.00 MiB",
    ]
    report = cachyos(lines)
    assert (report["count"], report["packages"]) == (2, ["foo", "bar"])
    assert (report["download"], report["installed"], report["net"]) == (4.0, 0.0, 0.0)


def test_apt_takes_the_line_after_each_header() -> None:
    header = "The following packages will be upgraded:"
    lines = ["Reading package lists...", header, "  libtdb-dev libtdb1", "x", header, "libssh-4 libxml2 libxml2-dev"]
    assert apt(lines) == ["libtdb-dev", "libtdb1", "libssh-4", "libxml2", "libxml2-dev"]


def test_no_match_is_empty() -> None:
    lines = ["nothing to do"]
    assert apt(lines) == []
    assert garuda(lines) == []
    assert all(is_empty(report) for report in (apt(lines), garuda(lines), pacman(lines), cachyos(lines)))
    assert not is_empty(pacman(["Packages (1) x"]))
