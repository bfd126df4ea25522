"""Precision and recall of the PII redactor on the committed labelled set.

A finding counts as a true positive when the redactor finds the labelled type at exactly the
labelled text. Run: python -m benchmarks.pii_redaction (writes benchmarks/results/pii_redaction.json)
"""

from __future__ import annotations

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


def main() -> None:
    started = time.perf_counter()
    reports = {"development": evaluate(load(DATA)), "holdout": evaluate(load(HOLDOUT))}
    reports["seconds"] = round(time.perf_counter() - started, 3)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(reports, indent=2, ensure_ascii=False))
    for name in ("development", "holdout"):
        report = reports[name]
        o = report["overall"]
        print(
            f"{name}: {report['cases']} cases ({report['negative_cases']} without PII), "
            f"{report['spans']} labelled spans: precision {o['precision']:.3f}, recall {o['recall']:.3f}"
        )
        for k, v in report["per_type"].items():
            print(
                f"  {k:<16} P {v['precision']:.3f}  R {v['recall']:.3f}  "
                f"(tp {v['tp']}, fp {v['fp']}, fn {v['fn']})"
            )
        for e in report["errors"]:
            print("  miss:", e)


if __name__ == "__main__":
    main()
