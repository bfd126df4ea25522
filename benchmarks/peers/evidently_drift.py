"""B6 peer: Evidently's DataDriftPreset on the same reference and current data, as its docs show
(`Report([DataDriftPreset()]).run(current, reference)`). Runs in its own venv (Evidently 0.7
needs pandas < 3):

    python3 -m venv .venv-evidently
    .venv-evidently/bin/pip install "evidently==0.7.23" "pandas<3"
    .venv-evidently/bin/python benchmarks/peers/evidently_drift.py REF.parquet CUR.parquet
    .venv-evidently/bin/python benchmarks/peers/evidently_drift.py --embeddings REF CUR

Prints one JSON line: seconds (report run and its results), and per column the method, value
and drift verdict. With --embeddings every column of the tables is one embedding, judged by
`EmbeddingsDriftMetric` at its default method (a domain classifier, ROC AUC > 0.55) from
Evidently's legacy API, where 0.7 keeps its embedding drift; the line gives its drift score,
threshold and verdict."""

from __future__ import annotations

import json
import re
import sys
import time

import pandas as pd
from evidently import Report
from evidently.presets import DataDriftPreset

P_VALUE_METHODS = ("K-S p_value", "chi-square p_value", "Z-test p_value", "p_value")


def embeddings(ref_path: str, cur_path: str) -> None:
    from evidently.legacy.metrics import EmbeddingsDriftMetric
    from evidently.legacy.pipeline.column_mapping import ColumnMapping
    from evidently.legacy.report import Report as LegacyReport

    reference = pd.read_parquet(ref_path)
    current = pd.read_parquet(cur_path)
    mapping = ColumnMapping(embeddings={"text": list(reference.columns)})
    began = time.perf_counter()
    report = LegacyReport(metrics=[EmbeddingsDriftMetric("text")])
    report.run(reference_data=reference, current_data=current, column_mapping=mapping)
    result = report.as_dict()["metrics"][0]["result"]
    seconds = time.perf_counter() - began
    print(
        json.dumps(
            {
                "seconds": round(seconds, 3),
                "method": result.get("method_name"),
                "value": float(result["drift_score"]),
                "drifted": bool(result["drift_detected"]),
            }
        )
    )


def main() -> None:
    if sys.argv[1] == "--embeddings":
        embeddings(sys.argv[2], sys.argv[3])
        return
    reference = pd.read_parquet(sys.argv[1])
    current = pd.read_parquet(sys.argv[2])
    began = time.perf_counter()
    result = Report([DataDriftPreset()]).run(current, reference).dict()
    seconds = time.perf_counter() - began
    columns = {}
    share = None
    for m in result["metrics"]:
        cfg = m["config"]
        if cfg["type"].endswith("DriftedColumnsCount"):
            share = m["value"]["share"]
            continue
        if not cfg["type"].endswith("ValueDrift"):
            continue
        method, threshold, value = cfg["method"], cfg["threshold"], m["value"]
        p_value = "p_value" in method or bool(re.search(r"p.value", method))
        columns[cfg["column"]] = {
            "method": method,
            "threshold": threshold,
            "drifted": bool(value < threshold if p_value else value >= threshold),
            "value": float(value),
        }
    print(json.dumps({"seconds": round(seconds, 3), "share": share, "columns": columns}))


if __name__ == "__main__":
    main()
