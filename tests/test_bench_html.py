"""The HTML bench report renders in a real browser (headless Chromium takes a screenshot)."""

from __future__ import annotations

import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)


def screenshot(html: Path, png: Path, height: int = 2600) -> None:
    """Headless Chromium renders ``html`` to ``png`` (1200 px wide); no network is needed or allowed."""
    subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    f"--screenshot={png}", f"--window-size=1200,{height}", html.resolve().as_uri()],
                   check=True, capture_output=True, timeout=180)


def png_rows(path: Path) -> tuple[int, int, list[bytes]]:
    """Width, height and raw scanlines (filter byte first) of an 8-bit RGB(A) PNG."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width, height, channels = 8, b"", 0, 0, 3
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, color = struct.unpack(">IIBB", chunk[:10])
            assert depth == 8 and color in (2, 6)
            channels = 3 if color == 2 else 4
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * channels + 1
    return width, height, [raw[i * stride:(i + 1) * stride] for i in range(height)]


@pytest.mark.skipif(CHROMIUM is None, reason="needs Chromium (apt-get install chromium)")
def test_html_report_renders(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    from refinet_edge.benchmarks.report import write_reports
    from refinet_edge.benchmarks.run import BenchSettings, run_bench
    from refinet_edge.benchmarks.variants import Context

    settings = BenchSettings(backends=("torch",), batches=(1, 2), points=(32, 128), iterations=3, warmup=1,
                             accuracy_frames=4, power=False)
    report = run_bench(settings, Context(work=tmp_path), "refinet-edge bench --screenshot-test")
    html = write_reports(report, tmp_path)[2]
    png = tmp_path / "report.png"
    screenshot(html, png)
    width, height, rows = png_rows(png)
    assert (width, height) == (1200, 2600)
    # A rendered page is not blank: many scanlines differ from the white background.
    distinct = {row[1:] for row in rows}
    assert len(distinct) > 200
