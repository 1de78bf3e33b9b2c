"""Open an HTML file in headless Chromium (Debian chromium + chromium-driver) and report what
a reader would see: console errors, images that failed, a screenshot."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")

needs_chromium = pytest.mark.skipif(
    not (CHROMIUM and DRIVER) and not os.environ.get("CI"),
    reason="Debian chromium and chromium-driver are not installed")


def render(page: Path, workdir: Path, height: int = 2000) -> dict:
    from matplotlib.image import imread
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", f"--window-size=1280,{height}",
                f"--user-data-dir={workdir / 'profile'}"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(DRIVER), options=opts)
    shot = workdir / "page.png"
    try:
        driver.get(page.resolve().as_uri())
        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        broken = driver.execute_script(
            "return Array.from(document.images).filter("
            "i => !(i.complete && i.naturalWidth > 0)).length")
        images = driver.execute_script("return document.images.length")
        driver.save_screenshot(str(shot))
    finally:
        driver.quit()
    return {"errors": errors, "images": images, "broken": broken, "screenshot": imread(shot)}
