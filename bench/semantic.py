"""What the sentence encoder (chatbot/nlu/semantic.py) costs: model load time,
memory, encode_one latency p50/p99 on customer-like messages of 3-40 words,
and batch throughput; optionally its agreement with sentence-transformers.

    python bench/semantic.py [--threads 1] [--messages 300] [--repeat 3]
    python bench/semantic.py --reference /path/to/venv/bin/python

`--threads` caps the BLAS threads (OpenBLAS/OMP, set before numpy loads; 1 is
the figure docs/nlu.md, "The sentence encoder" quotes: the server has two cores and other
work on them). `--reference` runs sentence-transformers in *another*
interpreter (a throwaway venv with torch and sentence-transformers; never
this project's) on the model extracted from the same zip, and compares the
embeddings of ~50 varied sentences: cosine, max abs difference, and the
first five dimensions of two sentences that tests/test_semantic.py pins.

The messages are built from the brands' own examples (intents/*/intents/*.yaml),
joined and cut to a length drawn uniformly from 3..40 words, with a fixed seed.
Needs the optional packages: pip install --no-deps -r requirements-semantic.lock
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

# Sentences for the reference comparison: short, long, typos, shorthand, record
# numbers, case, punctuation, accents, emoji, other languages, empty, and one
# text longer than 128 tokens (compared at the reference's own 256-token cut).
REFERENCE_SENTENCES = [
    "where is my parcel",
    "track my package",
    "set an alarm for 7am",
    "I want to cancel my order",
    "i dont want to cancel, just tell me where it is",
    "can't log in",
    "forgot my password and the reset link expired",
    "Hi! My order CT-100234 hasn't arrived yet, it's been 3 weeks.",
    "refund pls",
    "wheres my refund RF-88812 ???",
    "how long does delivery take to Germany",
    "do you ship internationally?",
    "The item arrived broken, the screen is cracked",
    "can i pay in instalments",
    "is paypal accepted",
    "I would like to speak to a human agent please",
    "talk to a real person",
    "byee",
    "thanks a lot!!",
    "nop",
    "ya",
    "",
    "???",
    "ok",
    "What's the weather like in Paris tomorrow?",
    "cancel my spotify subscription",
    "my phone bill is too high, verizon overcharged me",
    "Can you email me a copy of the invoice for order #100234?",
    "I was charged twice for the same purchase, 49.99 EUR each time",
    "HOW DO I RETURN THIS",
    "how do i return this",
    "wat is ur return policy",
    "i recieved the wrong size, can i exchange it",
    "Where can I find my withdrawal WD-5512 status?",
    "the tracking number says delivered but nothing is here",
    "Bonjour, où est ma commande ?",
    "¿Dónde está mi pedido?",
    "Wo ist mein Paket?",
    "配送状況を教えてください",
    "I love this shop 😍😍",
    "😡😡😡 worst service ever",
    "café naïve résumé",
    "my account got hacked and someone changed my email to x@example.com",
    "Please delete all my personal data (GDPR request).",
    "tell me a joke",
    "what is the meaning of life",
    "can u check TT-1234 for me",
    "I ordered a blue jacket on Monday, paid with my card, got a confirmation "
    "e-mail, and now the app says the order does not exist; what happened?",
    "a a a a a a a a a a a a a a a a a a a a",
    " ".join(
        [
            "I placed an order last month and it still has not arrived, the "
            "tracking page has not changed for two weeks and nobody answers my e-mails"
        ]
        * 6
    ),
]
PINNED = ["where is my parcel", "I want to cancel my order"]

REFERENCE_SCRIPT = r"""
import json, sys
import numpy as np
from sentence_transformers import SentenceTransformer
model_dir, sentences_file, out_file = sys.argv[1:4]
sentences = json.load(open(sentences_file))
model = SentenceTransformer(model_dir, device="cpu")
emb = model.encode(sentences, batch_size=16, convert_to_numpy=True, normalize_embeddings=False)
np.save(out_file, emb.astype(np.float32))
print(json.dumps({"max_seq_length": model.max_seq_length, "modules": [type(m).__name__ for m in model]}))
"""


def set_threads(n: int) -> None:
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(n)


def rss_kib() -> tuple[int, int]:
    """(current RSS, peak RSS) in KiB, from /proc/self/status."""
    fields = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0])
    return fields.get("VmRSS", 0), fields.get("VmHWM", 0)


def customer_messages(n: int, seed: int = 18) -> list[str]:
    import random

    from ruamel.yaml import YAML

    yaml = YAML(typ="safe")
    pool: list[str] = []
    for path in sorted(ROOT.glob("intents/*/intents/*.yaml")):
        data = yaml.load(path.read_text(encoding="utf-8")) or {}
        pool += [str(e) for e in data.get("examples", []) if str(e).strip()]
    rng = random.Random(seed)
    messages = []
    for _ in range(n):
        target = rng.randint(3, 40)
        words: list[str] = []
        while len(words) < target:
            words += (rng.choice(pool).rstrip(".!? ") + rng.choice([",", ".", " and", "", "?"])).split()
        messages.append(" ".join(words[:target]))
    return messages


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def bench(args: argparse.Namespace) -> dict[str, Any]:
    import numpy as np

    before, _ = rss_kib()
    t0 = time.perf_counter()
    from chatbot.nlu import semantic

    if not semantic.available():
        sys.exit("the optional packages are not installed: " + semantic.INSTALL_HINT)
    t_import = time.perf_counter()
    encoder = semantic.SentenceEncoder()
    t_load = time.perf_counter()
    after_load, peak_load = rss_kib()

    messages = customer_messages(args.messages)
    token_counts = [len(encoder.tokens(m)) for m in messages]
    for m in messages[:20]:  # warm-up
        encoder.encode_one(m)
    latencies, cpu = [], []  # wall clock, and this thread's CPU time (steady on a shared machine)
    for _ in range(args.repeat):
        for m in messages:
            start, start_cpu = time.perf_counter(), time.thread_time()
            encoder.encode_one(m)
            cpu.append((time.thread_time() - start_cpu) * 1000)
            latencies.append((time.perf_counter() - start) * 1000)
    by_length = {}
    for lo, hi in ((3, 10), (11, 25), (26, 40)):
        sel = [lat for i, lat in enumerate(latencies) if lo <= len(messages[i % len(messages)].split()) <= hi]
        if sel:
            by_length[f"{lo}-{hi} words"] = round(percentile(sel, 50), 2)
    throughput, throughput_cpu = {}, {}
    for batch in (1, 8, 32, 64):
        start, start_cpu = time.perf_counter(), time.process_time()
        encoder.encode(messages, batch_size=batch)
        throughput[batch] = round(len(messages) / (time.perf_counter() - start), 1)
        throughput_cpu[batch] = round(len(messages) / (time.process_time() - start_cpu), 1)
    after_all, peak_all = rss_kib()
    size = semantic.model_zip_path().stat().st_size
    return {
        "blas_threads": args.threads,
        "model_zip_mb": round(size / 1e6, 1),
        "import_s": round(t_import - t0, 3),
        "load_s": round(t_load - t_import, 3),
        "rss_delta_after_load_mb": round((after_load - before) / 1024, 1),
        "peak_rss_during_load_mb": round((peak_load - before) / 1024, 1),
        "rss_delta_after_bench_mb": round((after_all - before) / 1024, 1),
        "messages": len(messages),
        "tokens_per_message_mean": round(float(np.mean(token_counts)), 1),
        "tokens_per_message_max": max(token_counts),
        "encode_one_ms_p50": round(percentile(latencies, 50), 2),
        "encode_one_ms_p90": round(percentile(latencies, 90), 2),
        "encode_one_ms_p99": round(percentile(latencies, 99), 2),
        "encode_one_cpu_ms_p50": round(percentile(cpu, 50), 2),
        "encode_one_cpu_ms_p99": round(percentile(cpu, 99), 2),
        "encode_one_ms_p50_by_length": by_length,
        "encode_sentences_per_s_by_batch": throughput,
        "encode_sentences_per_cpu_s_by_batch": throughput_cpu,
        "load_average_1min": round(os.getloadavg()[0], 2),
    }


def reference(python: str) -> dict[str, Any]:
    import numpy as np

    from chatbot.nlu import semantic

    zip_path = semantic.model_zip_path()
    with tempfile.TemporaryDirectory(prefix="minilm-ref-") as tmp:
        model_dir = Path(tmp) / "model"
        with zipfile.ZipFile(zip_path) as zf:
            zf.extractall(model_dir)
        sentences_file = Path(tmp) / "sentences.json"
        sentences_file.write_text(json.dumps(REFERENCE_SENTENCES), encoding="utf-8")
        out = Path(tmp) / "ref.npy"
        script = Path(tmp) / "ref.py"
        script.write_text(REFERENCE_SCRIPT)
        run = subprocess.run(
            [python, str(script), str(model_dir), str(sentences_file), str(out)],
            capture_output=True,
            text=True,
            check=True,
        )
        ref_info = json.loads(run.stdout.strip().splitlines()[-1])
        ref = np.load(out)
    ref_unit = ref / np.linalg.norm(ref, axis=1, keepdims=True)
    results = {"reference": ref_info, "sentences": len(REFERENCE_SENTENCES)}
    # The reference cuts at 256 tokens; at 256 we must agree everywhere, at the
    # default 128 everywhere but the one longer text.
    for max_length in (256, semantic.DEFAULT_MAX_LENGTH):
        enc = semantic.SentenceEncoder(max_length=max_length)
        batch = enc.encode(REFERENCE_SENTENCES)
        one = np.stack([enc.encode_one(s) for s in REFERENCE_SENTENCES])
        cos_batch = (batch * ref_unit).sum(axis=1)
        cos_one = (one * ref_unit).sum(axis=1)
        long_ones = [i for i, s in enumerate(REFERENCE_SENTENCES) if len(enc.tokens(s)) >= max_length]
        results[f"max_length={max_length}"] = {
            "min_cosine_batch": float(cos_batch.min()),
            "min_cosine_one_by_one": float(cos_one.min()),
            "min_cosine_excluding_truncated": float(np.delete(cos_one, long_ones).min()),
            "truncated_sentences": long_ones,
            "max_abs_diff": float(np.abs(one - ref_unit).max()),
            "max_abs_diff_batch_vs_one": float(np.abs(batch - one).max()),
            "ref_norm_range": [float(np.linalg.norm(ref, axis=1).min()), float(np.linalg.norm(ref, axis=1).max())],
        }
    results["pinned_first5"] = {
        s: [round(float(x), 6) for x in ref_unit[REFERENCE_SENTENCES.index(s)][:5]] for s in PINNED
    }
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=1, help="BLAS threads (default 1)")
    parser.add_argument("--messages", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=3, help="passes over the messages for encode_one")
    parser.add_argument(
        "--reference", metavar="PYTHON", help="an interpreter with sentence-transformers: compare against it instead"
    )
    args = parser.parse_args()
    set_threads(args.threads)
    sys.path.insert(0, str(ROOT))
    result = reference(args.reference) if args.reference else bench(args)
    print(json.dumps(result, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
