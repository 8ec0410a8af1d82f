"""The SmolLM2-135M quantization table of docs/llm.md: perplexity on real English text (the Lee
corpus' evaluation documents, tests/data/lee/lee.cor) at the GGUF weights ("none"), W8, W6, W4
and W3 with RTN and SQuant on every linear weight (per output channel), and the simulated
decode tokens/s at each weight width on a precision-scalable config (configs/llm-edge.yaml,
batch 1, 1,024 tokens of context; the squant pass sets the weights' width).

``python bench/llm_quality.py [--max-tokens 2048] [--json]``; a few minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from simulator import api
from simulator.scenarios.llm_quality import Quant, load_model, model_path, quantize_weights
from workloads.llm.infer import NumpyLlama
from workloads.llm.tokenizer import load_tokenizer

ROOT = Path(__file__).resolve().parents[1]
BITS = (8, 6, 4, 3)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--text", default=str(ROOT / "tests" / "data" / "lee" / "lee.cor"))
    parser.add_argument("--max-tokens", type=int, default=2048)
    parser.add_argument("--config", default=str(ROOT / "configs" / "llm-edge.yaml"))
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    path = model_path("smollm2-135m")
    config, weights = load_model(path)
    ids = load_tokenizer(path).encode(Path(args.text).read_bytes().decode("latin-1"))
    ids = ids[:args.max_tokens]
    hw = api.load_config(args.config)
    rows = []
    for bits in (None, *BITS):
        passes = [f"squant:bits={bits}"] if bits else []
        _, result = api.run(hw, "llm:smollm2-135m?phase=decode&ctx=1024", passes=passes)
        tps = result.extras["llm"]["tokens_per_s"]
        for mode in (("none",) if bits is None else ("rtn", "squant")):
            quant = Quant(mode, bits or 0)
            start = time.perf_counter()
            nll = NumpyLlama(config, quantize_weights(weights, config, quant)).nll(ids)
            rows.append({"quant": str(quant), "bits": bits or 16, "tokens": len(ids),
                         "perplexity": float(np.exp(nll.mean())), "decode_tokens_per_s": tps,
                         "weight_bytes": result.extras["llm"]["weight_bytes"],
                         "seconds": time.perf_counter() - start})
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"| weights | perplexity RTN | perplexity SQuant | decode tokens/s ({hw.name}) |")
    print("|---|---|---|---|")
    base = rows[0]
    print(f"| GGUF (Q4_1) in bf16 | {base['perplexity']:.2f} | {base['perplexity']:.2f} | "
          f"{base['decode_tokens_per_s']:,.0f} |")
    for bits in BITS:
        rtn, sq = (next(r for r in rows if r["quant"] == f"{m}:bits={bits}")
                   for m in ("rtn", "squant"))
        print(f"| W{bits} | {rtn['perplexity']:.2f} | {sq['perplexity']:.2f} | "
              f"{rtn['decode_tokens_per_s']:,.0f} |")
    print(f"({len(ids):,} tokens of {Path(args.text).name})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
