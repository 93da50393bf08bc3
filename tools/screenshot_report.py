"""Screenshot a synthmatch HTML page (report.html, tutorial.html) with headless Chromium.

    synthmatch match examples/sounds/pluck_c4.wav -o out/pluck
    python tools/screenshot_report.py out/pluck/report.html docs/images/report.png [--width 1100 --height 2600]

Needs a Chromium binary (Debian: ``apt-get install chromium``); ``$CHROMIUM`` names another one.
The page is self-contained, so no network is used.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import shutil
import subprocess
import sys


def chromium() -> str:
    """The Chromium binary: ``$CHROMIUM``, else the first of the usual names on ``PATH``."""
    for name in (os.environ.get("CHROMIUM"), "chromium", "chromium-browser", "google-chrome", "chrome"):
        if name and shutil.which(name):
            return str(shutil.which(name))
    sys.exit("no Chromium found. Hint: apt-get install chromium, or set CHROMIUM=/path/to/chrome")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("page", help="an HTML file")
    ap.add_argument("png", help="the screenshot to write")
    ap.add_argument("--width", type=int, default=1100)
    ap.add_argument("--height", type=int, default=2600)
    args = ap.parse_args()
    page = pathlib.Path(args.page).resolve()
    if not page.is_file():
        sys.exit(f"{page} does not exist")
    out = pathlib.Path(args.png).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    cmd = [
        chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        f"--window-size={args.width},{args.height}",
        f"--screenshot={out}",
        page.as_uri(),
    ]
    subprocess.run(cmd, check=True, capture_output=True, timeout=120)
    if not out.is_file():
        sys.exit("Chromium wrote no screenshot")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
