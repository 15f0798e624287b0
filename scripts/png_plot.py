"""A small PNG line chart for the benchmarks, with numpy and zlib only (no plotting stack).

Draws one or more series of (x, y) points with markers, a dashed horizontal
limit line, and numbered ticks on both axes (a 3x5 digit font); the legend and
units go in the caller's printed table and JSON.
"""

from __future__ import annotations

import itertools
import struct
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

_DIGITS = {  # 3x5 glyphs, rows top to bottom
    "0": ["111", "101", "101", "101", "111"],
    "1": ["010", "110", "010", "010", "111"],
    "2": ["111", "001", "111", "100", "111"],
    "3": ["111", "001", "111", "001", "111"],
    "4": ["101", "101", "111", "001", "001"],
    "5": ["111", "100", "111", "001", "111"],
    "6": ["111", "100", "111", "101", "111"],
    "7": ["111", "001", "010", "010", "010"],
    "8": ["111", "101", "111", "101", "111"],
    "9": ["111", "101", "111", "001", "111"],
}
COLOURS = [(31, 119, 180), (214, 39, 40), (44, 160, 44), (148, 103, 189)]
WIDTH, HEIGHT, MARGIN = 640, 400, 48


def _png(pixels: np.ndarray, path: Path) -> None:
    height, width, _ = pixels.shape
    raw = b"".join(b"\x00" + pixels[row].tobytes() for row in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )


def _text(img: np.ndarray, x: int, y: int, text: str, scale: int = 2) -> None:
    for glyph in text:
        rows = _DIGITS.get(glyph)
        if rows is not None:
            for r, row in enumerate(rows):
                for c, bit in enumerate(row):
                    if bit == "1":
                        img[
                            y + r * scale : y + (r + 1) * scale, x + c * scale : x + (c + 1) * scale
                        ] = 0
        x += 4 * scale


def _line(
    img: np.ndarray, a: tuple[float, float], b: tuple[float, float], colour: tuple[int, int, int]
) -> None:
    steps = int(max(abs(b[0] - a[0]), abs(b[1] - a[1]))) + 1
    for t in np.linspace(0.0, 1.0, steps):
        x, y = round(a[0] + (b[0] - a[0]) * t), round(a[1] + (b[1] - a[1]) * t)
        img[max(y - 1, 0) : y + 2, max(x - 1, 0) : x + 2] = colour


def line_chart(
    path: Path,
    series: Sequence[Sequence[tuple[float, float]]],
    *,
    limit: float | None = None,
) -> None:
    """Write ``series`` (each a list of (x, y)) as a PNG; ``limit`` draws a dashed line."""
    img = np.full((HEIGHT, WIDTH, 3), 255, dtype=np.uint8)
    points = [p for s in series for p in s]
    x_max = max((p[0] for p in points), default=1.0) or 1.0
    y_max = max([*(p[1] for p in points), limit or 0.0, 1.0]) * 1.1

    def at(x: float, y: float) -> tuple[float, float]:
        return (
            MARGIN + x / x_max * (WIDTH - 2 * MARGIN),
            HEIGHT - MARGIN - y / y_max * (HEIGHT - 2 * MARGIN),
        )

    img[HEIGHT - MARGIN, MARGIN : WIDTH - MARGIN] = 0  # x axis
    img[MARGIN : HEIGHT - MARGIN, MARGIN] = 0  # y axis
    for x in sorted({p[0] for p in points}):
        px, _ = at(x, 0)
        img[HEIGHT - MARGIN : HEIGHT - MARGIN + 5, round(px)] = 0
        _text(img, round(px) - 3, HEIGHT - MARGIN + 8, f"{x:g}")
    for k in range(1, 5):
        y = y_max * k / 5
        _, py = at(0, y)
        img[round(py), MARGIN - 5 : MARGIN] = 0
        _text(img, 2, round(py) - 5, f"{y:.0f}")
    if limit is not None:
        _, py = at(0, limit)
        for x in range(MARGIN, WIDTH - MARGIN, 12):
            img[round(py), x : x + 6] = (120, 120, 120)
    for colour, points_of in zip(COLOURS, series, strict=False):
        scaled = [at(x, y) for x, y in points_of]
        for a, b in itertools.pairwise(scaled):
            _line(img, a, b, colour)
        for px, py in scaled:
            img[round(py) - 3 : round(py) + 4, round(px) - 3 : round(px) + 4] = colour
    path.parent.mkdir(parents=True, exist_ok=True)
    _png(img, path)
