"""`modelmint data add|list|show`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from modelmint.cli._common import JsonOpt, console, print_json, state, table

app = typer.Typer(help="Add, list and show immutable dataset versions.", no_args_is_help=True)


TABULAR = ("tabular-classification", "tabular-regression")


def print_audit(audit: dict, title: str = "Data audit") -> None:
    task = audit.get("task", "text-classification")
    rows = [
        [
            "task",
            audit.get("task", "text-classification")
            + (f" (inferred: {audit['task_inferred']})" if audit.get("task_inferred") else ""),
        ],
        ["rows read", audit["rows"]],
        ["empty inputs", audit["empty_texts"]],
        ["missing labels / targets", audit["missing_labels"]],
        ["duplicate rows (same text, same label)", audit["duplicate_rows"]],
        [
            "near-duplicates (same after case/width/punctuation folding)",
            audit.get("near_duplicate_rows", 0),
        ],
        [
            "inputs with conflicting labels"
            if task in TABULAR
            else "texts with conflicting labels",
            audit["conflicting_texts"],
        ],
    ]
    if audit.get("class_balance"):
        rows.append(
            [
                "class balance",
                ", ".join(
                    f"{k} {v} ({audit['class_share'][k]:.1%})"
                    for k, v in audit["class_balance"].items()
                ),
            ]
        )
    if "target" in audit:  # regression: the distribution of the number to predict
        t = audit["target"]
        rows.append(
            [
                "target",
                f"min {t['min']:g} · median {t['median']:g} · mean {t['mean']:g} · max {t['max']:g}",
            ]
        )
    # tabular inputs are the features as JSON: their "text length" means nothing to anyone
    if "text_length" in audit and task not in TABULAR:
        rows.append(
            [
                "text length (chars)",
                "min {min} · median {median} · p95 {p95} · max {max}".format(
                    **audit["text_length"]
                ),
            ]
        )
    if "images" in audit:
        im = audit["images"]
        rows.append(["image files (bad)", f"{im['files']} ({im['bad_files']})"])
        rows.append(
            [
                "image size (w x h, median)",
                f"{im['image_size']['width']['median']} x {im['image_size']['height']['median']}",
            ]
        )
    if "pii" in audit:
        found = ", ".join(f"{k} {v}" for k, v in audit["pii"].items()) or "none found"
        rows.append(["PII redacted" if audit.get("pii_redacted") else "PII (redaction OFF)", found])
    if "dropped" in audit:
        d = audit["dropped"]
        rows.append(
            [
                "dropped before splitting",
                ", ".join(f"{k} {v}" for k, v in d.items()) + f" → kept {audit['kept_rows']}",
            ]
        )
    console.print(table(title, ["check", "result"], rows))
    if task in TABULAR and audit.get("columns"):
        print_columns(audit["columns"])


def print_columns(columns: dict) -> None:
    """The column profile of a tabular file: kind, missing and distinct values, flags, and
    numeric outliers (Tukey's far-out fences)."""

    def outliers(p: dict) -> str:
        o = p.get("outliers")
        if not o:
            return ""
        rows = ", ".join(str(r) for r in o["example_rows"][:5])
        return f"{'~' if o['estimated'] else ''}{o['count']}" + (f" (rows {rows})" if rows else "")

    console.print(
        table(
            "Columns",
            ["column", "kind", "missing", "distinct", "flags", "outliers"],
            [
                [c, p["kind"], p["missing"], p["distinct"], ", ".join(p["flags"]), outliers(p)]
                for c, p in columns.items()
            ],
        )
    )


@app.command("add")
def add(
    ctx: typer.Context,
    name: Annotated[
        str, typer.Argument(help="Dataset (and scenario) name, e.g. review-sentiment.")
    ],
    path: Annotated[
        Path,
        typer.Argument(
            help="A .csv, .tsv, .jsonl, .parquet or .xlsx file; or a folder (or .zip) of class folders of images."
        ),
    ],
    text: Annotated[
        str | None, typer.Option("--text", help="Column with the input text (default: text).")
    ] = None,
    label: Annotated[
        list[str] | None,
        typer.Option(
            "--label", help="Label column (default: label). Repeat for multi-label 0/1 columns."
        ),
    ] = None,
    target: Annotated[
        str | None, typer.Option("--target", help="Numeric column to predict (regression).")
    ] = None,
    features: Annotated[
        str | None,
        typer.Option("--features", help="Tabular input columns, comma-separated, or 'all'."),
    ] = None,
    tokens: Annotated[
        str | None,
        typer.Option(
            "--tokens", help="Column of tokens (entities: a JSON list or space-separated)."
        ),
    ] = None,
    tags: Annotated[
        str | None, typer.Option("--tags", help="Column of BIO tags, one per token.")
    ] = None,
    label_sep: Annotated[
        str | None,
        typer.Option("--label-sep", help="Multi-label in one column, separated by this, e.g. '|'."),
    ] = None,
    task: Annotated[
        str | None,
        typer.Option(
            "--task",
            help="text-classification, multi-label, text-regression, tabular-classification, "
            "tabular-regression, token-classification or faq (question -> answer retrieval; "
            "--text is the question, --label the answer) (default: inferred from the options).",
        ),
    ] = None,
    fmt: Annotated[
        str | None,
        typer.Option("--format", help="csv, tsv or jsonl (default: from the extension)."),
    ] = None,
    encoding: Annotated[
        str | None, typer.Option("--encoding", help="Text encoding (default: UTF-8, then GB18030).")
    ] = None,
    test_size: Annotated[
        float, typer.Option("--test-size", help="Share of rows in the frozen test split.")
    ] = 0.2,
    validation_size: Annotated[
        float, typer.Option("--validation-size", help="Share of rows in the validation split.")
    ] = 0.1,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the stratified split.")] = 0,
    conflicts: Annotated[
        str,
        typer.Option(
            "--conflicts", help="Same text, different labels: drop (default) or majority."
        ),
    ] = "drop",
    group: Annotated[
        str | None,
        typer.Option(
            "--group", help="Column whose values never span two splits (e.g. customer_id)."
        ),
    ] = None,
    skip_bad: Annotated[
        bool,
        typer.Option(
            "--skip-bad", help="Images: leave out files that fail to decode (listed in the audit)."
        ),
    ] = False,
    redact: Annotated[
        bool,
        typer.Option(
            "--redact/--no-redact",
            help="Replace emails, phones, ID and card numbers, IPs and credentials with "
            "placeholders before storing (default on).",
        ),
    ] = True,
    as_json: JsonOpt = False,
) -> None:
    """Read, redact PII, audit, clean and split a labelled file into a new content-hashed version."""
    from modelmint.cli._common import progress_ui
    from modelmint.data import add_dataset

    ws = state(ctx).workspace()
    with progress_ui(not as_json) as progress:
        ref, audit, created = add_dataset(
            ws.store,
            ws.settings.datasets_dir,
            name,
            path,
            text=text,
            label=label,
            target=target,
            features=[c.strip() for c in features.split(",") if c.strip()] if features else None,
            tokens=tokens,
            tags=tags,
            label_sep=label_sep,
            task=task,
            fmt=fmt,
            encoding=encoding,
            test_size=test_size,
            validation_size=validation_size,
            seed=seed,
            redact_pii=redact,
            max_bytes=ws.settings.max_file_bytes,
            progress=progress,
            conflicts=conflicts,
            group=group,
            skip_bad=skip_bad,
        )
    row = ws.store.datasets.get(name, ref.version)
    if as_json:
        print_json({**_public(row), "created": created})
        return
    src = row["source"]
    how = src.get("format", "")
    if src.get("encoding"):
        how += (
            f", encoding {src['encoding']} (detected)"
            if not encoding
            else f", encoding {src['encoding']}"
        )
    console.print(f"read {path} as {how}")
    print_audit(audit)
    verb = "stored" if created else "unchanged - same content as"
    console.print(
        f"[green]{verb}[/] dataset [bold]{ref.ref}[/] ({ref.n_rows} rows; "
        f"train {row['split_counts']['train']} / validation {row['split_counts']['validation']} / "
        f"test {row['split_counts']['test']}; sha256 {ref.content_hash[:12]})"
    )
    console.print(f"next: [bold]modelmint train {name}[/]")


def _public(row: dict) -> dict:
    return {
        "name": row["name"],
        "version": row["version"],
        "ref": f"{row['name']}:{row['version']}",
        "content_hash": row["content_hash"],
        "task": row["task"],
        "rows": row["n_rows"],
        "labels": row["labels"],
        "splits": row["split_counts"],
        "path": row["path"],
        "source": row["source"],
        "parent_id": row["parent_id"],
        "created_at": row["created_at"],
    }


@app.command("list")
def list_(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """List every dataset version."""
    rows = state(ctx).workspace().store.datasets.list()
    if as_json:
        print_json([_public(r) for r in rows])
        return
    if not rows:
        console.print("no datasets yet: add one with `modelmint data add NAME FILE.csv`")
        return
    console.print(
        table(
            None,
            ["dataset", "rows", "labels", "train/val/test", "sha256", "created"],
            [
                [
                    f"{r['name']}:{r['version']}",
                    r["n_rows"],
                    ", ".join(r["labels"]),
                    "/".join(str(r["split_counts"][s]) for s in ("train", "validation", "test")),
                    r["content_hash"][:12],
                    r["created_at"].strftime("%Y-%m-%d %H:%M"),
                ]
                for r in rows
            ],
        )
    )


@app.command("show")
def show(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="NAME or NAME:VERSION (default: newest).")],
    as_json: JsonOpt = False,
) -> None:
    """Show one dataset version with its audit."""
    from modelmint.registry import parse_ref

    name, version = parse_ref(ref)
    row = (
        state(ctx)
        .workspace()
        .store.datasets.get(name, version if version and version > 0 else None)
    )
    if as_json:
        print_json({**_public(row), "audit": row["audit"]})
        return
    p = _public(row)
    console.print(f"[bold]{p['ref']}[/]  sha256 {p['content_hash']}")
    console.print(f"rows {p['rows']} · labels {', '.join(p['labels'])} · splits {p['splits']}")
    console.print(f"file {p['path']}")
    print_audit(row["audit"])


LABEL_ERROR_TASKS = ("text-classification",)
"""Tasks `data audit --label-errors` searches (cleanlab ranks given classes)."""

FIT_SECONDS_PER_ROW_CLASS = 4e-5
"""The 5-fold classifier and cleanlab after the embeddings, per row and class: 4,000 rows of
40 classes took 6.6 s on 2 cores (the embeddings before it take ~0.07 s a row uncached, and are
estimated from their first batch as they run)."""

FIT_STAGE = "5-fold fit"


class _FitStage:
    """Wraps the progress callback of `--label-errors`: after the embedding bar completes, the
    cross-validated classifier runs without callbacks of its own, so it gets a bar of its own
    (with elapsed time, and an estimate when it is long) instead of a silent wait."""

    def __init__(self, progress, rows: int, classes: int) -> None:
        self.progress = progress
        self.estimate = rows * max(classes, 2) * FIT_SECONDS_PER_ROW_CLASS
        self.started = False

    def __call__(self, stage: str, done: int, total: int) -> None:
        self.progress(stage, done, total)
        if stage == "embedding" and done >= total and not self.started:
            self.started = True
            if self.estimate >= 20:
                from modelmint.cli._common import about

                console.print(f"  {FIT_STAGE}: {about(self.estimate)}", highlight=False)
            self.progress(FIT_STAGE, 0, 1)

    def finish(self) -> None:
        if self.started:
            self.progress(FIT_STAGE, 1, 1)


@app.command("audit")
def audit_cmd(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="NAME or NAME:VERSION (default: newest).")],
    label_errors: Annotated[
        bool,
        typer.Option(
            "--label-errors",
            help="Also find suspected label errors (cleanlab; embeds every row, cached).",
        ),
    ] = False,
    base_model: Annotated[
        str, typer.Option("--base-model", help="Encoder for --label-errors.")
    ] = "multilingual-e5-small",
    html_path: Annotated[
        Path | None,
        typer.Option("--html", help="Where to write the HTML report (default: HOME/reports/)."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """The quality report of a stored version: the ingest audit, leakage between splits and,
    with --label-errors, suspected label errors. Writes an HTML report with charts."""
    from modelmint.cli._common import progress_ui
    from modelmint.data import render_html, review_version
    from modelmint.registry import parse_ref

    ws = state(ctx).workspace()
    name, version = parse_ref(ref)
    version = version if version and version > 0 else None
    stored = ws.store.datasets.get(name, version)
    skipped = None
    if label_errors and stored["task"] not in LABEL_ERROR_TASKS:
        # said, not silently skipped: cleanlab ranks given classes, a number has none
        skipped = (
            f"--label-errors finds wrong classes in {', '.join(LABEL_ERROR_TASKS)} data; "
            f"{stored['name']}:{stored['version']} is {stored['task']}, so no label errors were "
            "searched"
            + (
                " - look at the target's outliers in the column profile instead"
                if stored["task"] in ("text-regression", "tabular-regression")
                else ""
            )
        )
        label_errors = False
    with progress_ui(not as_json and label_errors) as progress:
        fit = _FitStage(progress, stored["n_rows"], len(stored["labels"])) if progress else None
        row, review = review_version(
            ws.store,
            name,
            stored["version"],
            label_errors=label_errors,
            base_model=base_model,
            cache=ws.cache,
            progress=fit,
        )
        if fit is not None:
            fit.finish()
    if skipped:
        review["label_issues_skipped"] = skipped
    title = f"Data audit: {row['name']}:{row['version']}"
    out = html_path or ws.settings.home / "reports" / f"{row['name']}-v{row['version']}-audit.html"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_html(title, row["audit"], review), encoding="utf-8")
    if as_json:
        print_json(
            {
                "dataset": f"{row['name']}:{row['version']}",
                "audit": row["audit"],
                **review,
                "html": str(out),
            }
        )
        return
    print_audit(row["audit"], title)
    if skipped:
        console.print(f"[yellow]note:[/] {skipped}")
    lk = review["leakage"]
    console.print(
        f"leakage: {lk['exact']} texts in two splits exactly, {lk['near']} after normalisation"
    )
    if "label_issues" in review:
        li = review["label_issues"]
        console.print(f"suspected label errors: {li['count']} ({li['share']:.1%}) - {li['method']}")
        console.print(
            table(
                None,
                ["row", "split", "given", "suggested", "p(given)", "text"],
                [
                    [
                        r["row"],
                        r["split"],
                        r["given"],
                        r["suggested"],
                        f"{r['confidence_in_given']:.2f}",
                        r["text"][:60],
                    ]
                    for r in li["rows"][:15]
                ],
            )
        )
    console.print(f"HTML report: {out}")


def _version(ref: str) -> tuple[str, int | None]:
    from modelmint.registry import parse_ref

    name, version = parse_ref(ref)
    return name, version if version and version > 0 else None


@app.command("diff")
def diff_cmd(
    ctx: typer.Context,
    a: Annotated[str, typer.Argument(help="NAME:VERSION (the older).")],
    b: Annotated[str, typer.Argument(help="NAME:VERSION (the newer).")],
    as_json: JsonOpt = False,
) -> None:
    """Rows added, removed and relabelled between two versions, and the label distribution change."""
    from modelmint.data import diff_versions, read_examples

    store = state(ctx).workspace().store
    rows = [store.datasets.get(*_version(r)) for r in (a, b)]
    d = diff_versions(*(read_examples(Path(r["path"])) for r in rows))
    refs = [f"{r['name']}:{r['version']}" for r in rows]
    if as_json:
        print_json({"a": refs[0], "b": refs[1], **d})
        return
    console.print(
        f"{refs[0]} → {refs[1]}: {d['rows']['a']} → {d['rows']['b']} rows · +{d['added']} added · "
        f"-{d['removed']} removed · {d['text_changed']} rewritten · {d['label_changed']} relabelled · "
        f"{d['split_changed']} moved split"
    )
    console.print(
        table(
            "Labels",
            ["label", refs[0], refs[1], "change"],
            [[k, v["a"], v["b"], f"{v['delta']:+d}"] for k, v in d["labels"].items()],
        )
    )


@app.command("clean")
def clean_cmd(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="NAME or NAME:VERSION to clean (default: newest).")],
    normalize: Annotated[
        bool, typer.Option("--normalize", help="Unicode NFC and whitespace normalisation.")
    ] = False,
    fold_width: Annotated[
        bool,
        typer.Option("--fold-width", help="NFKC: full-width to half-width (implies --normalize)."),
    ] = False,
    drop_near_duplicates: Annotated[
        bool,
        typer.Option(
            "--drop-near-duplicates",
            help="Keep one of texts equal after folding case, width and punctuation.",
        ),
    ] = False,
    conflicts: Annotated[
        str,
        typer.Option(
            "--conflicts", help="drop or majority, for texts that end up with two labels."
        ),
    ] = "drop",
    drop_label_errors: Annotated[
        bool,
        typer.Option(
            "--drop-label-errors",
            help="Drop the rows `data audit --label-errors` flagged (review them first).",
        ),
    ] = False,
    drop_rows: Annotated[
        str | None,
        typer.Option(
            "--drop-rows",
            help="Comma-separated row numbers of the stored version, as `data audit` lists them for "
            "label errors, leakage and fuzzy duplicates (the ingest findings name lines of the source file).",
        ),
    ] = None,
    missing: Annotated[
        str | None,
        typer.Option(
            "--missing",
            help="Tabular: drop rows with missing values, or impute them (median / most frequent of train).",
        ),
    ] = None,
    scale: Annotated[
        bool,
        typer.Option(
            "--scale",
            help="Tabular: standardise numeric features (train statistics, recorded for serving).",
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Apply fixes to a version and store the result as a new version, with every fix in its lineage."""
    from modelmint.data import clean_version
    from modelmint.errors import InvalidInput

    rows = None
    if drop_rows:
        try:
            rows = [int(x) for x in drop_rows.split(",") if x.strip()]
        except ValueError:
            raise InvalidInput(
                "--drop-rows takes row numbers separated by commas, e.g. 3,17,42"
            ) from None
    ws = state(ctx).workspace()
    name, version = _version(ref)
    new, audit, created = clean_version(
        ws.store,
        ws.settings.datasets_dir,
        name,
        version,
        normalize=normalize,
        fold_width=fold_width,
        drop_near_duplicates=drop_near_duplicates,
        conflicts=conflicts,
        drop_label_errors=drop_label_errors,
        drop_rows=rows,
        missing=missing,
        scale=scale,
    )
    if as_json:
        print_json(
            {"dataset": new.ref, "created": created, "rows": new.n_rows, "fixes": audit["fixes"]}
        )
        return
    for f in audit["fixes"]:
        console.print("  " + ", ".join(f"{k} {v}" for k, v in f.items()))
    verb = "stored" if created else "unchanged - same content as"
    console.print(f"[green]{verb}[/] [bold]{new.ref}[/] ({new.n_rows} rows)")


@app.command("folds")
def folds_cmd(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="NAME or NAME:VERSION.")],
    k: Annotated[int, typer.Option("--k", help="Number of folds.")] = 5,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the fold assignment.")] = 0,
    as_json: JsonOpt = False,
) -> None:
    """Stratified k-fold assignment of the train+validation rows (the test split stays out)."""
    from collections import Counter

    from modelmint.data import kfold, read_examples

    store = state(ctx).workspace().store
    row = store.datasets.get(*_version(ref))
    examples = read_examples(Path(row["path"]))
    folds = kfold(examples, k, seed=seed)
    per = [
        Counter(e.label for e, f in zip(examples, folds, strict=True) if f == i) for i in range(k)
    ]
    data = {
        "dataset": f"{row['name']}:{row['version']}",
        "k": k,
        "seed": seed,
        "folds": [
            {"fold": i, "rows": sum(c.values()), "labels": dict(sorted(c.items()))}
            for i, c in enumerate(per)
        ],
        "assignment": folds,
    }
    if as_json:
        print_json(data)
        return
    console.print(
        table(
            f"{k}-fold split of {data['dataset']} (test rows excluded)",
            ["fold", "rows", "labels"],
            [
                [f["fold"], f["rows"], ", ".join(f"{a} {b}" for a, b in f["labels"].items())]
                for f in data["folds"]
            ],
        )
    )


@app.command("augment")
def augment_cmd(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="NAME or NAME:VERSION (text or image data).")],
    copies: Annotated[int, typer.Option("--copies", help="Augmented copies per train row.")] = 1,
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 0,
    synonyms: Annotated[
        Path | None,
        typer.Option("--synonyms", help="Synonym lexicon: word<TAB>syn1,syn2 per line."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Add augmented copies of the train rows as a new version (never in validation or test)."""
    from modelmint.data import augment_version

    ws = state(ctx).workspace()
    name, version = _version(ref)
    new, audit, created = augment_version(
        ws.store,
        ws.settings.datasets_dir,
        name,
        version,
        copies=copies,
        seed=seed,
        lexicon_path=synonyms,
    )
    if as_json:
        print_json(
            {
                "dataset": new.ref,
                "created": created,
                "rows": new.n_rows,
                "augmented_rows": audit["augmented_rows"],
            }
        )
        return
    console.print(
        f"[green]stored[/] [bold]{new.ref}[/]: {audit['augmented_rows']} augmented train rows added ({new.n_rows} rows)"
    )
