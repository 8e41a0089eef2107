"""The README's TensorBoard picture: a committed reference run written as TensorBoard logs,
`tensorboard --logdir` on loopback, its HParams tab's parallel-coordinates view taken by the system Chromium.

    python docs/tensorboard_screenshot.py [RUN_DIR] [--out docs/tensorboard-hparams.png]
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hpsearch.track.tensorboard import TensorBoardLog, sync  # noqa: E402

RUN = ROOT / "results" / "fashion" / "20261205-085334-e1e6"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", nargs="?", default=str(RUN))
    parser.add_argument("--out", default=str(ROOT / "docs" / "tensorboard-hparams.png"))
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args()
    run_dir = Path(args.run_dir)
    with tempfile.TemporaryDirectory() as logdir:
        print(f"{sync(TensorBoardLog(Path(logdir), run_dir), run_dir)} trials written")
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        board = subprocess.Popen(
            [sys.executable, "-m", "tensorboard.main", "--logdir", logdir]
            + ["--host", "127.0.0.1", "--port", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
        )
        try:
            shoot(f"http://127.0.0.1:{port}", args.out, args.chromium)
        finally:
            board.terminate()
            board.wait(timeout=30)
    print(f"wrote {args.out}")


def shoot(url: str, out: str, chromium: str) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium)
        page = browser.new_page(viewport={"width": 1400, "height": 820})
        deadline = time.monotonic() + 120
        while True:  # tensorboard takes a few seconds to listen and load the logs
            try:
                page.goto(f"{url}/#hparams", wait_until="networkidle")
                page.wait_for_selector("text=val_score", timeout=20000)
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(1)
        page.wait_for_timeout(3000)  # the table's rows fill in after the header
        page.click("text=PARALLEL COORDINATES VIEW")
        page.wait_for_timeout(3000)
        page.screenshot(path=out)
        browser.close()


if __name__ == "__main__":
    main()
