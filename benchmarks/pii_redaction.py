"""Precision and recall of the PII redactor on the committed labelled sets.

A finding counts as a true positive when the redactor finds the labelled type at exactly the
labelled text (offsets into the text as given, invisible characters inside a span included).
The holdout is also reported for its ``"set": "evasion"`` cases alone (full-width digits,
zero-width characters, cards grouped by dots or no-break spaces; added for issue 12). The
results record a SHA-256 of redact.py, so a figure names the exact rules it measured.

Run: python -m benchmarks.pii_redaction [--out PATH]
(writes benchmarks/results/pii_redaction.json unless told otherwise)
"""

from __future__ import annotations

import argparse
import hashlib
import inspect
import json
import time
from collections import Counter
from pathlib import Path

from modelmint.data.redact import find_pii

DATA = Path(__file__).parent / "data" / "pii_labelled.jsonl"
HOLDOUT = Path(__file__).parent / "data" / "pii_holdout.jsonl"
RESULTS = Path(__file__).parent / "results" / "pii_redaction.json"


def load(path: Path = DATA) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def evaluate(cases: list[dict]) -> dict:
    tp: Counter[str] = Counter()
    fp: Counter[str] = Counter()
    fn: Counter[str] = Counter()
    misses = []
    for case in cases:
        text = case["text"]
        expected = Counter((s["type"], s["text"]) for s in case["spans"])
        got = Counter((f.kind, text[f.start : f.end]) for f in find_pii(text))
        for key in expected | got:
            hit = min(expected[key], got[key])
            tp[key[0]] += hit
            fn[key[0]] += expected[key] - hit
            fp[key[0]] += got[key] - hit
            if expected[key] != got[key]:
                misses.append(
                    {
                        "text": text,
                        "type": key[0],
                        "span": key[1],
                        "expected": expected[key],
                        "found": got[key],
                    }
                )

    def pr(t: int, p: int, n: int) -> dict:
        return {
            "precision": round(t / (t + p), 4) if t + p else 1.0,
            "recall": round(t / (t + n), 4) if t + n else 1.0,
            "tp": t,
            "fp": p,
            "fn": n,
        }

    kinds = sorted(set(tp) | set(fp) | set(fn))
    return {
        "cases": len(cases),
        "spans": sum(len(c["spans"]) for c in cases),
        "negative_cases": sum(1 for c in cases if not c["spans"]),
        "overall": pr(sum(tp.values()), sum(fp.values()), sum(fn.values())),
        "per_type": {k: pr(tp[k], fp[k], fn[k]) for k in kinds},
        "errors": misses,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=RESULTS, help="where the JSON goes")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    holdout = load(HOLDOUT)
    reports: dict = {
        "redactor_sha256": hashlib.sha256(Path(inspect.getfile(find_pii)).read_bytes()).hexdigest(),
        "development": evaluate(load(DATA)),
        "holdout": evaluate(holdout),
        "holdout_evasion": evaluate([c for c in holdout if c.get("set") == "evasion"]),
    }
    reports["seconds"] = round(time.perf_counter() - started, 3)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(reports, indent=2, ensure_ascii=False))
    print(f"redact.py sha256 {reports['redactor_sha256'][:12]}; wrote {args.out}")
    for name in ("development", "holdout", "holdout_evasion"):
        report = reports[name]
        o = report["overall"]
        print(
            f"{name}: {report['cases']} cases ({report['negative_cases']} without PII), "
            f"{report['spans']} labelled spans: precision {o['precision']:.3f}, "
            f"recall {o['recall']:.3f}"
        )
        for k, v in report["per_type"].items():
            print(
                f"  {k:<16} P {v['precision']:.3f}  R {v['recall']:.3f}  "
                f"(tp {v['tp']}, fp {v['fp']}, fn {v['fn']})"
            )
        if name != "holdout":  # its errors are those of the other two sets' cases
            for e in report["errors"]:
                print("  miss:", ascii(e) if name == "holdout_evasion" else e)


if __name__ == "__main__":
    main()
