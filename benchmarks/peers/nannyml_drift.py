"""B6 peer: NannyML's univariate drift on the same reference and current data, set up as its
quickstart shows (`UnivariateDriftCalculator(...).fit(reference).calculate(analysis)`) at its
defaults: Jensen-Shannon for continuous and categorical columns, each table cut into 10 chunks,
and a threshold from the reference's chunks (their mean + 3 standard deviations; with one chunk
there is no spread and every column alerts, so one chunk is not a fair setting). A column
counts as drifted when NannyML alerts on any current chunk, as its alert list would show it.
Runs in its own venv (NannyML 0.13 needs Python < 3.13 and pins plotly < 6, lightgbm < 4.6;
it imports statsmodels without declaring it):

    python3 -m venv .venv-nannyml
    .venv-nannyml/bin/pip install "nannyml==0.13.1" statsmodels
    .venv-nannyml/bin/python benchmarks/peers/nannyml_drift.py REF.parquet CUR.parquet
    .venv-nannyml/bin/python benchmarks/peers/nannyml_drift.py --embeddings REF CUR

Prints one JSON line: seconds (fit and calculate, results read), and per column the method,
value and drift verdict. With --embeddings, every column of the tables is one dimension of
an embedding, judged by NannyML's multivariate `DomainClassifierCalculator` (a LightGBM domain
classifier's ROC AUC per chunk, thresholds from the reference's chunks) at its defaults; the line
gives the highest AUROC of the current chunks, the threshold and the verdict."""

from __future__ import annotations

import json
import os
import sys
import time

os.environ.setdefault("NML_DISABLE_USAGE_LOGGING", "1")  # no usage analytics from a benchmark

import nannyml as nml
import pandas as pd


def calculate(calculator: type, names_arg: str, ref_path: str, cur_path: str) -> tuple:
    """(column names, NannyML's analysis-period frame, seconds to fit and calculate);
    `names_arg` is the calculator's argument that takes the column names."""
    reference = pd.read_parquet(ref_path)
    current = pd.read_parquet(cur_path)
    names = list(reference.columns)
    began = time.perf_counter()
    calc = calculator(**{names_arg: names})
    calc.fit(reference)
    frame = calc.calculate(current).filter(period="analysis").to_df()
    return names, frame, round(time.perf_counter() - began, 3)


def verdict(frame: pd.DataFrame, key: tuple) -> dict:
    """Drifted when any current chunk alerts; the highest value over the chunks."""
    alerts = frame[(*key, "alert")].astype(bool)
    threshold = frame[(*key, "upper_threshold")].iloc[0]
    return {
        "threshold": None if pd.isna(threshold) else float(threshold),
        "drifted": bool(alerts.any()),
        "value": float(frame[(*key, "value")].max()),
        "chunks_alerting": f"{int(alerts.sum())}/{len(alerts)}",
    }


def tabular(ref_path: str, cur_path: str) -> None:
    names, frame, seconds = calculate(
        nml.UnivariateDriftCalculator, "column_names", ref_path, cur_path
    )
    method = "jensen_shannon"
    columns = {name: {"method": method, **verdict(frame, (name, method))} for name in names}
    drifted = sum(c["drifted"] for c in columns.values())
    print(json.dumps({"seconds": seconds, "share": drifted / len(columns), "columns": columns}))


def embeddings(ref_path: str, cur_path: str) -> None:
    _, frame, seconds = calculate(
        nml.DomainClassifierCalculator, "feature_column_names", ref_path, cur_path
    )
    found = verdict(frame, ("domain_classifier_auroc",))
    print(json.dumps({"seconds": seconds, "method": "domain classifier (AUROC)", **found}))


def main() -> None:
    if sys.argv[1] == "--embeddings":
        embeddings(sys.argv[2], sys.argv[3])
        return
    tabular(sys.argv[1], sys.argv[2])


if __name__ == "__main__":
    main()
