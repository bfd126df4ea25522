"""Export of a registered model to ONNX (int8 by default) as the next version of its scenario,
with the change in accuracy, speed and size measured on the same frozen test split."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

from modelmint import data, evaluate, registry
from modelmint.modeling import Model, load_model_dir
from modelmint.pipeline.evaluation import report_dict
from modelmint.pipeline.monitoring import profile_into
from modelmint.pipeline.workspace import Progress, Workspace
from modelmint.store import new_id


def _dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _speed(model: Model, texts: list[str]) -> dict[str, float]:
    """Texts per second in batches of 32, and the median latency of one text (ms)."""
    model.outputs(texts[:8])  # warm up
    started = time.perf_counter()
    model.outputs(texts)
    batch_rate = len(texts) / (time.perf_counter() - started)
    single = []
    for t in texts[:30]:
        s0 = time.perf_counter()
        model.outputs([t])
        single.append((time.perf_counter() - s0) * 1000)
    single.sort()
    return {
        "texts_per_s_batch32": round(batch_rate, 1),
        "p50_ms_batch1": round(single[len(single) // 2], 2),
    }


def hf_path_of(base_model: str) -> str:
    """The local folder of a bundled or cached base encoder."""
    from modelmint.modeling.encoders import hf_path

    return hf_path(base_model)


def export_model(
    ws: Workspace, ref: str, *, int8: bool = True, progress: Progress | None = None
) -> dict[str, Any]:
    """Export `ref` to ONNX (int8 by default) as the next version of its scenario, with the
    accuracy, speed and size change measured on the same frozen test split."""
    from modelmint.registry.export import export_onnx

    mref, model = registry.load(ws.store, ref)
    ds_name, ds_version = mref.dataset.split(":")
    ds_row = ws.store.datasets.get(ds_name, int(ds_version))
    examples = data.read_examples(Path(ds_row["path"]))
    staged = ws.settings.models_dir / mref.name / f".staging-{new_id()}"
    try:
        if progress:
            progress("exporting", 0, 3)
        export_onnx(model, staged, int8=int8)
        exported = load_model_dir(staged)
        if progress:
            progress("evaluating", 1, 3)
        before = evaluate.evaluate_model(model, examples, split="test", cache=ws.cache)
        after = evaluate.evaluate_model(exported, examples, split="test")
        texts = [e.text for e in examples if e.split == "test"][:256]
        if progress:
            progress("timing", 2, 3)
        speed_before, speed_after = _speed(model, texts), _speed(exported, texts)
        size_before, size_after = _dir_bytes(mref.path), _dir_bytes(staged)
        if model.kind == "linear-head":
            size_before += _dir_bytes(Path(hf_path_of(model.base_model)))
        summary = {
            "source": mref.ref,
            "format": "onnx int8" if int8 else "onnx fp32",
            "accuracy_before": before.accuracy,
            "accuracy_after": after.accuracy,
            "accuracy_change": round(after.accuracy - before.accuracy, 6),
            "agreement": round(
                sum(a == b for a, b in zip(before.predictions, after.predictions, strict=True))
                / max(1, before.n),
                6,
            ),
            "speed_before": speed_before,
            "speed_after": speed_after,
            "speedup_batch32": round(
                speed_after["texts_per_s_batch32"] / speed_before["texts_per_s_batch32"], 2
            ),
            "bytes_before": size_before,
            "bytes_after": size_after,
            "size_ratio": round(size_after / size_before, 3),
            "timed_on": f"{len(texts)} test texts, this machine",
        }
        (staged / "evaluation.json").write_text(json.dumps(report_dict(after), indent=2))
        profile_into(ws, exported, examples, staged)
        metrics = {
            "test": after.headline(),
            "export": summary,
            "n_train": mref.metrics.get("n_train"),
        }
        new = registry.register(
            ws.store,
            ws.settings.models_dir,
            mref.name,
            staged,
            dataset_id=ds_row["id"],
            metrics=metrics,
        )
        if progress:
            progress("exporting", 3, 3)
    finally:
        if staged.exists():
            shutil.rmtree(staged, ignore_errors=True)
    return {"model": new.ref, **summary}
