"""The benchmark chart is a valid PNG of the promised size."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

from scripts.png_plot import HEIGHT, WIDTH, line_chart


def test_line_chart_writes_a_decodable_png(tmp_path: Path) -> None:
    path = tmp_path / "curve.png"
    line_chart(path, [[(1, 1180.0), (2, 1670.0), (4, 2480.0)], [(2, 2130.0)]], limit=2000.0)
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (WIDTH, HEIGHT)
    start = data.index(b"IDAT") + 4
    length = struct.unpack(">I", data[start - 8 : start - 4])[0]
    pixels = zlib.decompress(data[start : start + length])
    assert len(pixels) == height * (1 + width * 3)
    assert len(set(pixels)) > 3  # something was drawn on the white canvas
