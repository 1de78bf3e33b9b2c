"""PDF: report.pdf beside report.html, printed by headless Chromium when it is installed
(Debian: `apt-get install chromium`). Without Chromium no PDF is written and the caller
says so; nothing else depends on it."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

__all__ = ["chromium", "write_pdf"]

NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def chromium() -> str | None:
    """The Chromium to print with: $ALLOCATOR_CHROMIUM, else the first on PATH."""
    env = os.environ.get("ALLOCATOR_CHROMIUM")
    if env:
        return env if shutil.which(env) or Path(env).exists() else None
    return next((found for n in NAMES if (found := shutil.which(n))), None)


def write_pdf(page: Path, pdf: Path, timeout: float = 120.0) -> bool:
    """Print `page` (an HTML file) to `pdf` with the page's own print stylesheet (A4; the
    stylesheet's @page). False when there is no Chromium or it failed."""
    exe = chromium()
    if exe is None:
        return False
    with tempfile.TemporaryDirectory(prefix="allocator-chromium-") as profile:
        cmd = [exe, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
               "--disable-background-networking", "--disable-component-update",
               "--disable-sync", f"--user-data-dir={profile}", "--no-pdf-header-footer",
               f"--print-to-pdf={pdf}", Path(page).resolve().as_uri()]
        try:
            subprocess.run(cmd, capture_output=True, timeout=timeout, check=False)
        except (OSError, subprocess.TimeoutExpired):
            return False
    return pdf.exists() and pdf.stat().st_size > 0
