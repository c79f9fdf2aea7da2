"""The demo report in a real browser (headless Chromium): no sideways scroll on a phone or a
laptop, and chart text still legible on the phone. Skipped where Chromium is not installed."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

CHROMIUM = next(
    (p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None
)
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="chromium not installed (apt-get install chromium): browser checks skipped",
)

# Runs after layout: the page's scroll width, the viewport width, what sticks out (outside any
# scroll box), and the smallest chart text in CSS px (matplotlib's smallest font is 8.5 units).
PROBE = """<script>
addEventListener('load', () => {
  const root = document.documentElement, vw = root.clientWidth;
  const out = [...document.querySelectorAll('body *')].filter(el => {
    if (el.closest('.scroll, .chartbox') && !el.matches('.scroll, .chartbox')) return false;
    return el.getBoundingClientRect().right > vw + 1;
  }).slice(0, 5).map(el => el.tagName + '.' + el.className);
  const scales = [...document.querySelectorAll('svg.chart')].map(
    s => s.getBoundingClientRect().width / s.viewBox.baseVal.width);
  parent.postMessage(JSON.stringify({scrollWidth: root.scrollWidth, clientWidth: vw, out,
    minChartText: 8.5 * Math.min(...scales)}), '*');
});
</script>"""

# Headless Chromium will not make a window narrower than 500 px, so the page is measured in an
# iframe of the exact width, and reports back by message (file: pages are separate origins).
FRAME = """<!DOCTYPE html><html><body style="margin:0">
<iframe src="{src}" style="border:0;width:{width}px;height:2000px"></iframe>
<script>addEventListener('message', e => {{
  const pre = document.createElement('pre'); pre.id = 'probe'; pre.textContent = e.data;
  document.body.appendChild(pre); }});</script></body></html>"""


def _measure(page: Path, tmp: Path, width: int) -> dict:
    """Load a copy of the page (its CSP forbids scripts, so the copy drops it) at `width` px."""
    import json

    html = page.read_text(encoding="utf-8")
    html = re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", html)
    probe = tmp / f"probe_{width}.html"
    probe.write_text(html.replace("</body>", PROBE + "</body>"), encoding="utf-8")
    frame = tmp / f"frame_{width}.html"
    frame.write_text(FRAME.format(src=probe.name, width=width), encoding="utf-8")
    result = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--disable-gpu",
            "--no-sandbox",
            "--hide-scrollbars",
            f"--user-data-dir={tmp / f'profile_{width}'}",
            f"--window-size={max(width, 500) + 40},2100",
            "--virtual-time-budget=3000",
            "--dump-dom",
            frame.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    found = re.search(r'<pre id="probe">(.*?)</pre>', result.stdout, re.S)
    assert found, f"no measurement from chromium: {result.stderr[-2000:]}"
    return json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))


@pytest.fixture(scope="module")
def demo_page(demo_run, tmp_path_factory) -> Path:
    """The demo report as `yousaid report` writes it (display names applied), on a copy."""
    from pipeline.stages import BY_NAME
    from pipeline.workspace import load_workspace

    root = shutil.copytree(demo_run["workdir"], tmp_path_factory.mktemp("browser") / "ws")
    config = yaml.safe_load((root / "consultation.yaml").read_text(encoding="utf-8"))
    config["settings"].setdefault("report", {})["bootstrap"] = 200
    (root / "consultation.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    ws = load_workspace(root)
    return BY_NAME["report"].run(ws, ws.question("missing")).outputs["report_html"]


@pytest.mark.parametrize("width", [390, 1280])
def test_no_sideways_scroll(demo_page, tmp_path, width):
    m = _measure(demo_page, tmp_path, width)
    assert m["clientWidth"] == width, m
    assert m["scrollWidth"] <= width, f"page scrolls sideways at {width}px: {m}"
    assert not m["out"], m
    # chart text: about 10 px or more on the page, on a phone as on a laptop
    assert m["minChartText"] >= 9.5, m
