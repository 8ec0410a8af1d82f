"""Block-Skim on BERT-base (zoo:bert_base, sequence 384 and 512): FLOP speedup the pass predicts
vs simulated cycle speedup on the systolic (TPU-v1-like) and npu (MLU-like) targets, for the
issue's keep schedule and for a paper-like one (~3x FLOPs); plus Block-Skim on a real MiniLM.

Targets: the FLOP ratio equals the closed form sum L0 / sum (layer MACs at L_l) (the paper's
cost model, predictor included); cycles speed up by more than 1.15x for the issue's schedule and
by less than the FLOP ratio (weights and per-layer fixed costs do not shrink); the MiniLM run
keeps its [CLS] block, and with threshold 0 (keep all) reproduces the full model exactly.

Real text (``archsim blockskim-study`` with the shipped trained predictor on MiniLM-L6 and the
Lee evaluation documents): at least 1.3x fewer FLOPs (predictor included) with a Spearman drop of
at most 0.03 against the human ratings, and a simulated cycle speedup > 1 on systolic and npu.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from simulator.api import load_config  # noqa: E402
from simulator.errors import ArchsimError  # noqa: E402
from simulator.scenarios.blockskim_study import blockskim_study  # noqa: E402

SCHEDULES = {
    "issue": "1,1,1,1,0.9,0.8,0.7,0.6,0.5,0.4,0.3,0.3",
    "paper-like": "1,1,0.5,0.35,0.25,0.2,0.15,0.15,0.1,0.1,0.1,0.1",
}
CONFIGS = {"systolic": "configs/tpu-v1-256-ws.yaml", "npu": "configs/mlu.yaml"}


def closed_form(tokens: list[int], d: int = 768, ff: int = 3072) -> float:
    def layer(n: int) -> int:
        return n * (4 * d * d + 2 * d * ff) + 2 * n * n * d
    return sum(layer(tokens[0]) for _ in tokens) / sum(layer(n) for n in tokens)


def main() -> int:
    ok = True
    print(f"{'target':9} {'seq':>4} {'schedule':11} {'tokens entering layers':48} "
          f"{'FLOP x':>7} {'cycles x':>8} {'% of FLOP':>9} {'s':>5}")
    for seq in (384, 512):
        for name, keep in SCHEDULES.items():
            for kind, path in CONFIGS.items():
                if kind == "npu" and seq == 512:
                    continue                       # keep `make bench` short
                try:
                    cfg = load_config(ROOT / path)
                except ArchsimError as err:      # the npu target may not be in this checkout
                    print(f"{kind:9} {seq:>4} {name:11} skipped: {err}")
                    continue
                t0 = time.perf_counter()
                res = blockskim_study(cfg, f"zoo:bert_base?seq={seq}",
                                      f"keep={keep},predictor=none")
                wall = time.perf_counter() - t0
                tokens = [r.tokens for r in res.rows if r.layer >= 0]
                want = closed_form(tokens)
                print(f"{kind:9} {seq:>4} {name:11} {' '.join(map(str, tokens)):48} "
                      f"{res.flop_speedup:7.3f} {res.cycle_speedup:8.3f} "
                      f"{100 * res.cycle_speedup / res.flop_speedup:8.0f}% {wall:5.1f}")
                ok &= abs(res.flop_speedup - want) < 1e-9
                ok &= 1 < res.cycle_speedup <= res.flop_speedup * 1.05
                if name == "issue":
                    ok &= res.cycle_speedup > 1.15
    try:
        from simulator.scenarios import attention as att

        model, _ = att.resolve_model("minilm-l6-int8")
        maps = att.collect(model, random_seq=256, seed=0)
        for threshold in (0.0, 0.25, 0.5, 1.0):
            rep = att.skim_real(maps, threshold=threshold)
            print(f"MiniLM-L6 int8, 256 random tokens, mass threshold {threshold}: tokens "
                  f"{rep.tokens}, kept-position last hidden state: rel. diff {rep.rel:.4f}, "
                  f"max abs {rep.max_abs:.3g}, cosine {rep.cosine:.4f}")
            if threshold <= 0.5:
                ok &= 0 in rep.run.kept_blocks[-1]  # [CLS] survives moderate skimming
            if threshold == 0:
                ok &= rep.rel < 1e-5            # keep-all is exact
    except Exception as err:  # noqa: BLE001  (the optional model package may be missing)
        print(f"MiniLM skipped: {err}")
    try:
        from simulator.scenarios.blockskim_study import real_text_study
        from workloads.wordpiece import read_documents, read_similarities

        lee = ROOT / "tests" / "data" / "lee"
        docs = read_documents(lee / "lee.cor")
        t0 = time.perf_counter()
        rep = real_text_study("minilm-l6-int8", docs,
                              read_similarities(lee / "similarities0-1.txt", len(docs)),
                              [load_config(ROOT / p) for p in CONFIGS.values()])
        drop = rep.spearman_full - rep.spearman_skim
        print(f"MiniLM-L6 on the Lee corpus, trained predictor: Spearman {rep.spearman_full:.4f}"
              f" -> {rep.spearman_skim:.4f} (drop {drop:+.4f}), FLOP {rep.flop_speedup:.3f}x, "
              "cycles " + ", ".join(f"{k} {v:.3f}x" for k, v in rep.cycle_speedup.items())
              + f" [{time.perf_counter() - t0:.0f} s]")
        ok &= rep.flop_speedup >= 1.3 and drop <= 0.03
        ok &= all(v > 1 for v in rep.cycle_speedup.values())
    except Exception as err:  # noqa: BLE001  (the optional model package may be missing)
        print(f"MiniLM real-text study skipped: {err}")
    print("targets met" if ok else "TARGET MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
