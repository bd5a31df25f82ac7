"""RotatingFile: supervisord's size rotation, cut at line ends."""

from __future__ import annotations

from pathlib import Path

from barto.worker.programs.logs import RotatingFile


def test_without_backups_the_file_starts_again_empty(tmp_path: Path) -> None:
    path = tmp_path / "a.log"
    log = RotatingFile(path, 10, 0)
    log.write(b"12345\n1234\n")  # 11 bytes: the second line does not fit
    log.write(b"x\n")
    log.close()
    assert path.read_bytes() == b"1234\nx\n"
    assert list(tmp_path.iterdir()) == [path]


def test_a_line_longer_than_a_file_is_kept_whole_in_a_file_of_its_own(tmp_path: Path) -> None:
    path = tmp_path / "a.log"
    log = RotatingFile(path, 4, 3)
    log.write(b"ab\n")
    log.write(b"0123456789\ncd\n")
    log.close()
    assert [Path(f"{path}.{n}").read_bytes() for n in (2, 1)] + [path.read_bytes()] == [
        b"ab\n",
        b"0123456789\n",
        b"cd\n",
    ]


def test_zero_maxbytes_never_rotates_and_a_reopened_file_keeps_counting(tmp_path: Path) -> None:
    path = tmp_path / "a.log"
    first = RotatingFile(path, 0, 5)
    first.write(b"x" * 100 + b"\n")
    first.close()
    again = RotatingFile(path, 110, 1)  # 101 bytes there already
    again.write(b"123456789\n")
    again.close()
    assert Path(f"{path}.1").read_bytes() == b"x" * 100 + b"\n"
    assert path.read_bytes() == b"123456789\n"
