from __future__ import annotations

import json

import numpy as np
import pytest

from modelmint.errors import ConfigError
from modelmint.modeling import (
    E5_SMALL,
    MINILM,
    EmbeddingCache,
    embed_with_cache,
    get_encoder,
    load_model_dir,
    save_model_dir,
    verify,
)


def test_e5_embeds_chinese_normalised_and_is_shared():
    enc = get_encoder("intfloat/multilingual-e5-small")
    assert enc is get_encoder(E5_SMALL)
    x = enc.embed(["质量很好，推荐购买", "太差了，退货"], max_tokens=64)
    assert x.shape == (2, 384) and x.dtype == np.float32
    assert np.allclose(np.linalg.norm(x, axis=1), 1.0, atol=1e-4)
    assert float(x[0] @ x[1]) < 0.999


def test_odd_text_never_crashes_the_engine():
    enc = get_encoder(E5_SMALL)
    x = enc.embed(["\x00abc", "a\ud800b", "\x01\x1b[31m"], 64)
    assert np.isfinite(x).all() and x.shape == (3, 384)


def test_truncation_respects_max_tokens():
    enc = get_encoder(E5_SMALL)
    long = "这本书非常好看，我很喜欢。" * 40
    cut = enc._truncate(long, 32)
    assert enc.count_tokens(cut) <= 32 < enc.count_tokens(long[: len(cut) + 1])
    # truncated text embeds like its prefix, not like the whole
    a = enc.embed([long], 32)[0]
    b = enc.embed([cut], 512)[0]
    assert float(a @ b) > 0.999


def test_cache_hits_on_second_call(tmp_path):
    cache = EmbeddingCache(tmp_path / "e.sqlite")
    enc = get_encoder(E5_SMALL)
    texts = ["好评", "差评", "好评"]
    x1, hits, misses = embed_with_cache(enc, texts, 64, cache)
    assert (hits, misses) == (0, 2) and len(cache) == 2
    x2, hits, misses = embed_with_cache(enc, texts, 64, cache)
    assert (hits, misses) == (3, 0)
    assert np.array_equal(x1, x2) and np.array_equal(x1[0], x1[2])
    # a different max_tokens is a different key
    _, hits, _ = embed_with_cache(enc, texts, 32, cache)
    assert hits == 0


def test_minilm_from_its_pypi_package_embeds_english():
    pytest.importorskip("torch")
    enc = get_encoder(MINILM)
    x = enc.embed(["the movie was great", "a dull, boring film", "the film was great"], 64)
    assert x.shape == (3, 384)
    assert float(x[0] @ x[2]) > float(x[0] @ x[1])


def test_unknown_model_path_names_the_fix():
    pytest.importorskip("torch")
    with pytest.raises(ConfigError, match="bundled encoders"):
        get_encoder("/no/such/model/dir")


def test_model_dir_is_safetensors_json_and_checksummed(tmp_path):
    out = tmp_path / "m"
    w = np.random.default_rng(0).normal(size=(2, 384)).astype(np.float32)
    checksum = save_model_dir(
        out,
        weight=w,
        bias=np.zeros(2, np.float32),
        config={"labels": ["neg", "pos"], "base_model": E5_SMALL, "max_tokens": 64},
    )
    assert sorted(p.name for p in out.iterdir()) == [
        "config.json",
        "head.safetensors",
        "manifest.json",
    ]
    assert verify(out) == checksum
    m = load_model_dir(out)
    preds = m.predict(["很好"])
    assert preds[0].label in {"neg", "pos"}
    assert abs(sum(preds[0].scores.values()) - 1) < 1e-5
    cfg = json.loads((out / "config.json").read_text())
    cfg["labels"] = ["a", "b"]
    (out / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ConfigError, match="checksum"):
        load_model_dir(out)
    for p in tmp_path.rglob("*"):
        assert p.suffix not in {".pkl", ".pickle", ".joblib"}
