"""Plan previews: size and render time of each format for the bundled examples and two 10,000-VM
fleets (a realistic mix of sets and zonal VMs, and the worst case of 10,000 one-VM groups), plus the
time a headless Chromium takes to load the HTML when /usr/bin/chromium is installed.

    /tmp/v/bin/python benchmarks/bench_previews.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from chromium import CHROMIUM, Browser
from previews_support import EXAMPLES, big_preview, example_preview, standalone_preview

from planner.render import html, markdown, mermaid
from planner.render.preview import Preview


def measure(name: str, make: object) -> None:
    t0 = time.perf_counter()
    preview: Preview = make()  # type: ignore[operator]
    planned = time.perf_counter() - t0
    row = [
        f"{name:<22}",
        f"{len(preview.fleet.vms):>6} VMs",
        f"{len(preview.plan.steps):>6} steps",
        f"plan {planned:5.2f}s",
    ]
    documents = {}
    for fmt, module in (("html", html), ("markdown", markdown), ("mermaid", mermaid)):
        t0 = time.perf_counter()
        documents[fmt] = module.render(preview)
        row.append(f"{fmt} {len(documents[fmt].encode()) / 1e6:6.3f} MB {time.perf_counter() - t0:5.2f}s")
    if Path(CHROMIUM).exists():
        with tempfile.TemporaryDirectory() as tmp, Browser() as browser:
            path = Path(tmp) / "plan.html"
            path.write_text(documents["html"], encoding="utf-8")
            t0 = time.perf_counter()
            report = browser.open(path)
            row.append(f"chromium load {time.perf_counter() - t0:5.2f}s errors={len(report.errors)}")
    print("  ".join(row), flush=True)


if __name__ == "__main__":
    for spec in EXAMPLES:
        measure(spec.stem, lambda spec=spec: example_preview(spec))
    measure("10k mixed", big_preview)
    measure("10k one-VM groups", standalone_preview)
