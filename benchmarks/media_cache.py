"""Cold vs cached video request through the server's MediaLoader (a script, not a test).

The same base64 data: URI twice: the first request decodes, samples and resizes; the
second finds the decoded frames in the media cache. Uses the clips benchmarks/media.py
made (run that first). Prints a table and writes benchmarks/results/media_cache.json.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import time
from pathlib import Path

from cosmos_reason.families.reason1 import REASON1
from cosmos_reason.media.loader import MediaLoader
from cosmos_reason.media.settings import MediaSettings

HERE = Path(__file__).parent
CLIPS = ["clip-720p30-10s-presetveryfast.mp4", "clip-720p30-60s-presetveryfast.mp4"]


async def measure(path: Path) -> dict:
    uri = "data:video/mp4;base64," + base64.b64encode(path.read_bytes()).decode()
    loader = MediaLoader(MediaSettings(), geometry=REASON1.geometry, video_defaults=REASON1.video)
    try:
        started = time.perf_counter()
        first = await loader.load_video(uri)
        cold = time.perf_counter() - started
        started = time.perf_counter()
        second = await loader.load_video(uri)
        warm = time.perf_counter() - started
    finally:
        await loader.close()
    assert second.frame_indices == first.frame_indices
    return {
        "clip": path.name,
        "frames": first.num_frames,
        "cold_ms": round(cold * 1000, 1),
        "cached_ms": round(warm * 1000, 1),
        "cached_share_pct": round(100 * warm / cold, 2),
    }


def main() -> None:
    rows = [asyncio.run(measure(HERE / ".cache" / name)) for name in CLIPS if (HERE / ".cache" / name).exists()]
    if not rows:
        raise SystemExit("no clips: run benchmarks/media.py first")
    print(f"{'clip':42} {'frames':>6} {'cold ms':>9} {'cached ms':>10} {'cached/cold':>12}")
    for r in rows:
        print(f"{r['clip']:42} {r['frames']:>6} {r['cold_ms']:>9} {r['cached_ms']:>10} {r['cached_share_pct']:>11}%")
    out = HERE / "results" / "media_cache.json"
    out.write_text(json.dumps({"target_pct": 5.0, "load_average": os.getloadavg(), "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
