"""The report opens in a real browser (headless Chromium) with every image loaded; skipped without Chromium."""
import re
import shutil
import subprocess

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")
def test_report_images_load_in_chromium(run, tmp_path):
    html = (run / "report.html").read_text()
    assert "<script" not in html and "http://" not in html and "https://" not in html  # self-contained, no JS
    n_img = len(re.findall(r"<img ", html))
    assert n_img >= 6
    # The report has no JavaScript; the test adds a probe to a copy to read naturalWidth of every image.
    probe = ("<script>window.addEventListener('load',()=>{const i=[...document.images];"
             "document.body.setAttribute('data-loaded', "
             "i.filter(x=>x.complete&&x.naturalWidth>0).length+'/'+i.length);});</script>")
    page = tmp_path / "probe.html"
    page.write_text(html.replace("</body>", probe + "</body>"))
    profile = tmp_path / "profile"
    dom = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "--virtual-time-budget=5000", "--dump-dom",
                          page.as_uri()], capture_output=True, text=True, timeout=120).stdout
    assert f'data-loaded="{n_img}/{n_img}"' in dom, dom[-500:]
    shot = tmp_path / "report.png"
    subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}2", "--window-size=1200,2000",
                    f"--screenshot={shot}", (run / "report.html").as_uri()], capture_output=True, timeout=120)
    assert shot.exists() and shot.stat().st_size > 10000
