"""Open a report page in headless Chromium (Debian's, `make chromium`): screenshot it, and check that every image
loaded and that the console logged no error.

Chromium runs offline with a fresh profile and its background networking off. Two runs:
1. `--dump-dom`: the page after its load event; its inline check has written `data-images-loaded="k/n"` on the body;
2. `--screenshot`: the PNG, with the console's messages on stderr (`--enable-logging=stderr`), where an error
   (a broken image, a script error) shows as a CONSOLE line or an ERROR line about the page.
Exit status 1 if any image did not load or the console logged an error.
Usage: python benchmarks/report_screenshot.py out/demo/report.html --out out/demo/report.png
"""

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars", "--virtual-time-budget=10000"]


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if path := shutil.which(name):
            return path
    raise SystemExit("no Chromium found: `make chromium` installs Debian's package")


def run(page: Path, extra: list[str]) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run([chromium(), *FLAGS, f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0",
                               *extra, page.resolve().as_uri()], capture_output=True, text=True, timeout=300)


def page_errors(stderr: str) -> list[str]:
    """Console messages and errors about the page (not Chromium's own start-up noise about dbus, GPU or sandbox)."""
    lines = [ln for ln in stderr.splitlines() if "CONSOLE" in ln or ("ERROR" in ln and "file://" in ln)]
    return [ln for ln in lines if not re.search(r"dbus|gpu|sandbox|fontconfig", ln, re.I)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("page", type=Path)
    ap.add_argument("--out", type=Path, required=True, help="the screenshot PNG")
    ap.add_argument("--width", type=int, default=1200)
    ap.add_argument("--height", type=int, default=6000, help="tall enough for the whole page")
    a = ap.parse_args()
    if not a.page.is_file():
        raise SystemExit(f"{a.page} is not a file: write one with `imagecot report DIR... -o {a.page}`")
    dom = run(a.page, ["--dump-dom"])
    m = re.search(r'data-images-loaded="(\d+)/(\d+)"', dom.stdout)
    loaded = (int(m.group(1)), int(m.group(2))) if m else None
    a.out.parent.mkdir(parents=True, exist_ok=True)
    shot = run(a.page, [f"--screenshot={a.out.resolve()}", f"--window-size={a.width},{a.height}"])
    errors = page_errors(dom.stderr) + page_errors(shot.stderr)
    print(f"chromium: {subprocess.run([chromium(), '--version'], capture_output=True, text=True).stdout.strip()}")
    print(f"images loaded: {'the check did not run' if loaded is None else f'{loaded[0]} of {loaded[1]}'}")
    print(f"console errors: {len(errors)}" + "".join(f"\n  {e}" for e in errors))
    print(f"screenshot: {a.out} ({'written' if a.out.is_file() else 'MISSING'})")
    ok = loaded is not None and loaded[0] == loaded[1] and not errors and a.out.is_file()
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
