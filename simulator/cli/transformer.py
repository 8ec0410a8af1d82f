"""CLI presentation of the transformer studies (issue 8): ``archsim attention`` and
``archsim blockskim``. Parsing and printing only; the work is in ``simulator.scenarios``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from simulator.cli.common import (
    Progress,
    add_set_flag,
    check_output,
    make_console,
    note,
    parse_overrides,
)
from simulator.cli.plotflags import add_plot_flags, plot_options
from simulator.errors import ArchsimError


def add_parsers(sub: Any) -> dict[str, Any]:
    p = sub.add_parser(
        "attention", help="attention maps of a transformer: head patterns, heatmaps, Block-Skim",
        description="Expose every attention Softmax of MODEL (FILE.onnx, zoo:bert_base?..., or "
        "a packaged MiniLM: minilm-l3, minilm-l6-int8), run it in onnxruntime on one sequence, "
        "describe each head by distance features, cluster the heads with k-means and name the "
        "patterns; optionally plot a heatmap grid and run Block-Skim on the model.")
    p.add_argument("model")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--text-ids", metavar="ID,ID,...",
                     help="token ids of the sequence (e.g. from a WordPiece tokenizer)")
    src.add_argument("--random-seq", type=int, metavar="N",
                     help="a seeded random sequence of N tokens, [CLS] ... [SEP]")
    src.add_argument("--text", metavar="FILE",
                     help="real text: a file with one document per line, tokenized with the "
                          "MiniLM WordPiece vocabulary; maps are averaged over its documents "
                          "(--docs, --max-tokens)")
    p.add_argument("--docs", type=int, default=8, metavar="N",
                   help="with --text: the first N documents (default 8)")
    p.add_argument("--max-tokens", type=int, default=128, metavar="L",
                   help="with --text: every document truncated to L tokens (default 128; "
                        "shorter documents are skipped, so no map holds padding)")
    p.add_argument("--clusters", type=int, default=4, help="k-means clusters (default 4)")
    p.add_argument("--seed", type=int, default=0, help="seed for ids, inputs and k-means")
    p.add_argument("--plot", metavar="FILE.png", help="write the heatmap grid")
    add_plot_flags(p)
    p.add_argument("--skim", metavar="threshold=T[,block=32,start=1,weights=FILE.npz]",
                   help="also run Block-Skim on the model: per-layer tokens kept and the "
                        "output difference at the kept positions vs the full model "
                        "(training-free mass score, or the CNN predictor with weights=)")
    p.add_argument("--json", action="store_true", help="print the results as JSON")

    p = sub.add_parser(
        "blockskim", help="simulated speedup of Block-Skim per encoder layer vs its FLOP ratio",
        description="Simulate WORKLOAD (default zoo:bert_base?seq=384) on CONFIG without and "
        "with --pass blockskim:OPTION and print, per encoder layer, the tokens, the MAC ratio "
        "the pass predicts and the simulated cycle ratio.")
    p.add_argument("config")
    p.add_argument("workload", nargs="?", default="zoo:bert_base?seq=384")
    p.add_argument("--keep", default="1,1,1,1,0.9,0.8,0.7,0.6,0.5,0.4,0.3,0.3",
                   help="per-layer fraction of tokens entering it (default: the issue's)")
    p.add_argument("--option", metavar="K=V,...", default="",
                   help="more pass options, e.g. predictor=mass or block=64")
    add_set_flag(p)
    p.add_argument("--json", action="store_true", help="print the rows as JSON")

    p = sub.add_parser(
        "blockskim-study", help="Block-Skim with a trained predictor on real text: accuracy vs "
        "human similarity ratings, tokens kept, FLOP and simulated cycle speedups",
        description="Train Block-Skim's CNN predictor (one per layer, numpy) on the documents of "
        "--train with labels from MODEL itself (a block is to keep when removing it from that "
        "layer on moves the mean-pooled sentence embedding by more than --tau in cosine "
        "distance), or load trained weights (--weights; default: the shipped MiniLM-L6 "
        "predictor), skim every document of --eval-docs, and report the Pearson and Spearman "
        "correlation of the pairwise cosine similarities with the human ratings of --eval-sim, "
        "with and without skimming, the tokens entering each layer, the FLOP speedup and the "
        "simulated cycle speedup of the skimmed graphs (predictor included) on each --config.")
    p.add_argument("model", help="minilm-l6-int8, minilm-l3 or FILE.onnx (a sentence encoder "
                   "taking input_ids, attention_mask[, token_type_ids])")
    p.add_argument("--train", metavar="FILE", help="training documents, one per line (e.g. "
                   "../shared/datasets/lee/lee_background.cor); omit to use --weights")
    p.add_argument("--weights", metavar="FILE.npz", help="trained predictor weights (default: "
                   "the shipped ones for minilm-l6-int8)")
    p.add_argument("--eval-docs", metavar="FILE", required=True,
                   help="evaluation documents, one per line (e.g. lee.cor)")
    p.add_argument("--eval-sim", metavar="FILE", required=True,
                   help="N x N human similarity ratings of the evaluation documents")
    p.add_argument("--config", action="append", metavar="CFG",
                   help="hardware config to simulate on (repeatable; default: "
                        "configs/tpu-v1-256-ws.yaml and configs/mlu.yaml)")
    p.add_argument("--block", type=int, default=32, help="tokens per block (default 32)")
    p.add_argument("--threshold", type=float, default=0.5,
                   help="keep a block when the predictor's P(keep) >= this (default 0.5)")
    p.add_argument("--tau", type=float, default=0.03,
                   help="label threshold: cosine distance of the pooled embedding above which "
                        "a block is labelled keep (default 0.03)")
    p.add_argument("--epochs", type=int, default=10, help="training epochs (default 10)")
    p.add_argument("--train-docs", type=int, metavar="N", help="use the first N training docs")
    p.add_argument("--max-train-tokens", type=int, default=128, metavar="L",
                   help="training documents truncated to L tokens (default 128)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--weights-out", metavar="FILE.npz", help="write the trained weights")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    return {"attention": cmd_attention, "blockskim": cmd_blockskim,
            "blockskim-study": cmd_blockskim_study}


def _skim_options(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in filter(None, text.split(",")):
        key, eq, value = item.partition("=")
        if not eq or key not in ("threshold", "block", "start", "weights"):
            raise ArchsimError(f"expected threshold=T[,block=N,start=L,weights=FILE.npz]; got "
                               f"{item!r}", where="--skim")
        out[key] = value
    if "threshold" not in out:
        raise ArchsimError("threshold=T is required", where="--skim")
    return out


def cmd_attention(args) -> int:
    from simulator.scenarios import attention as att

    check_output(args.plot, "--plot")
    ids = None
    if args.text_ids:
        try:
            ids = [int(t) for t in args.text_ids.replace(" ", "").split(",") if t]
        except ValueError:
            raise ArchsimError("token ids must be integers separated by commas",
                               where="--text-ids") from None
    model, name = att.resolve_model(args.model)
    if args.text:
        from workloads.wordpiece import read_documents

        maps = att.collect_text(model, read_documents(args.text), args.max_tokens, args.docs)
    else:
        maps = att.collect(model, ids, args.random_seq, args.seed)
    layers, heads, length = maps.shape
    feats = att.head_features(maps.probs, maps.special)
    labels, _ = att.kmeans(feats, args.clusters, args.seed)
    names = att.pattern_names(feats, labels)
    out: dict[str, Any] = {
        "model": name, "layers": layers, "heads": heads, "tokens": length,
        "documents": maps.documents,
        "features": list(att.FEATURES),
        "heads_table": [{"layer": i // heads, "head": i % heads, "pattern": names[labels[i]],
                         **{f: round(float(v), 4) for f, v in zip(att.FEATURES, feats[i],
                                                                  strict=True)}}
                        for i in range(len(feats))],
        "patterns": {n: int((labels == c).sum()) for c, n in enumerate(names)},
    }
    if args.plot:
        from simulator.report.attention_plot import heatmap_grid

        what = (f"mean over {maps.documents} real documents of {length} tokens"
                if maps.documents else f"{length} tokens")
        heatmap_grid(maps.probs, labels, names, args.plot, **{
            "title": f"{name}: attention, {what}; heads clustered into {args.clusters} patterns",
            **plot_options(args, 110)})
    if args.skim:
        opts = _skim_options(args.skim)
        predictors = None
        if "weights" in opts:
            from simulator.passes.blockskim_scores import load_predictors

            predictors = load_predictors(opts["weights"])
        try:
            rep = att.skim_real(maps, float(opts["threshold"]), int(opts.get("block", 32)),
                                int(opts.get("start", 1)), predictors)
        except ValueError:
            raise ArchsimError("threshold, block and start take numbers", where="--skim") \
                from None
        out["skim"] = {"tokens": rep.tokens, "keep": [round(k, 4) for k in rep.keep],
                       "kept_blocks": [b.tolist() for b in rep.run.kept_blocks],
                       "max_abs_diff": rep.max_abs, "mean_abs_diff": rep.mean_abs,
                       "rel_diff": rep.rel, "cosine": rep.cosine,
                       "pass": "blockskim:keep=" + ",".join(f"{k:.4g}" for k in rep.keep)}
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        _print_attention(out, labels, names, heads)
    if args.plot:
        note(f"wrote {args.plot}")
    return 0


def _print_attention(out: dict, labels, names: list[str], heads: int) -> None:
    from rich.table import Table

    console = make_console()
    table = Table(title=f"{out['model']}: {out['layers']} layers x {heads} heads, "
                  f"{out['tokens']} tokens; features averaged over queries", title_justify="left")
    for col in ("layer", "head", "pattern", *out["features"]):
        table.add_column(col, justify="left" if col == "pattern" else "right")
    for row in out["heads_table"]:
        table.add_row(str(row["layer"]), str(row["head"]), row["pattern"],
                      *(f"{row[f]:.3f}" for f in out["features"]))
    console.print(table)
    counts = ", ".join(f"{n}: {c}" for n, c in out["patterns"].items())
    console.print(f"patterns ({len(names)} clusters): {counts}", highlight=False)
    grid = "\n".join(f"  layer {i // heads:>2}: " + " ".join(
        f"{names[labels[j]][:10]:<10}" for j in range(i, i + heads))
        for i in range(0, len(labels), heads))
    console.print(grid, highlight=False)
    if "skim" in out:
        s = out["skim"]
        console.print("Block-Skim: tokens entering each layer "
                      + " ".join(str(t) for t in s["tokens"])
                      + f" (of {out['tokens']}); at the {s['tokens'][-1]} kept positions the "
                      f"last hidden state differs from the full model's by max "
                      f"{s['max_abs_diff']:.4g}, mean {s['mean_abs_diff']:.4g}, relative "
                      f"{s['rel_diff']:.4g}, cosine {s['cosine']:.4f}", highlight=False)
        console.print(f"simulate it: --pass \"{s['pass']}\"", highlight=False)


def cmd_blockskim(args) -> int:
    from simulator.api import load_config
    from simulator.scenarios.blockskim_study import blockskim_study

    config = load_config(args.config, parse_overrides(args.overrides))
    option = f"keep={args.keep}" + (f",{args.option}" if args.option else "")
    res = blockskim_study(config, args.workload, option)
    if args.json:
        print(json.dumps(res.to_json(), indent=2))
        return 0
    from rich.table import Table

    table = Table(title=f"Block-Skim on {res.config} ({res.kind}), {res.workload}, "
                  f"--pass blockskim:{option}", title_justify="left")
    for col in ("layer", "tokens", "MACs base", "MACs skim", "FLOP x", "cycles base",
                "cycles skim", "cycle x"):
        table.add_column(col, justify="right")
    for r in res.rows:
        table.add_row("pre" if r.layer < 0 else str(r.layer), str(r.tokens),
                      f"{r.macs_base:,}", f"{r.macs_skim:,}", f"{r.flop_speedup:.3f}",
                      f"{r.cycles_base:,}", f"{r.cycles_skim:,}", f"{r.cycle_speedup:.3f}")
    table.add_row("total", "", f"{sum(r.macs_base for r in res.rows):,}",
                  f"{sum(r.macs_skim for r in res.rows):,}", f"{res.flop_speedup:.3f}",
                  f"{res.cycles_base:,}", f"{res.cycles_skim:,}", f"{res.cycle_speedup:.3f}")
    console = make_console()
    console.print(table)
    console.print(f"FLOP speedup the pass predicts {res.flop_speedup:.3f}x, simulated "
                  f"{res.cycle_speedup:.3f}x ({100 * res.cycle_speedup / res.flop_speedup:.0f}% "
                  "of it)", highlight=False)
    return 0


def cmd_blockskim_study(args) -> int:
    from simulator.api import load_config
    from simulator.scenarios.blockskim_study import real_text_study
    from workloads.wordpiece import read_documents, read_similarities

    check_output(args.weights_out, "--weights-out")
    if args.block < 4 or args.block % 4:
        raise ArchsimError(f"--block must be a positive multiple of 4; got {args.block}")
    if args.epochs < 1:
        raise ArchsimError(f"--epochs must be at least 1; got {args.epochs}")
    root = Path(__file__).resolve().parents[2]
    paths = args.config or [str(root / "configs" / "tpu-v1-256-ws.yaml"),
                            str(root / "configs" / "mlu.yaml")]
    configs = [load_config(p) for p in paths]
    docs = read_documents(args.eval_docs)
    human = read_similarities(args.eval_sim, len(docs))
    train = None
    if args.train:
        train = read_documents(args.train)
        if args.train_docs:
            train = train[:args.train_docs]
    with Progress("blockskim-study") as bar:
        rep = real_text_study(args.model, docs, human, configs, train, args.weights, args.block,
                              args.threshold, args.tau, args.epochs, args.max_train_tokens,
                              args.seed, args.weights_out,
                              progress=lambda stage, done, total: bar(done, total))
    if args.weights_out:
        note(f"wrote {args.weights_out}")
    out = rep.to_json()
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    console = make_console()
    p = out["predictor"]
    source = (f"trained on {p.get('train_docs')} documents, {p.get('epochs')} epochs, "
              f"tau {p.get('tau')}")
    console.print(f"Block-Skim on {rep.model} (block {rep.block}, keep when P >= "
                  f"{rep.threshold}), predictor {source}; {rep.documents} documents, "
                  f"{out['pairs']} pairs", highlight=False)
    console.print(f"  Pearson  full {rep.pearson_full:.4f}  skim {rep.pearson_skim:.4f}\n"
                  f"  Spearman full {rep.spearman_full:.4f}  skim {rep.spearman_skim:.4f}  "
                  f"(drop {rep.spearman_full - rep.spearman_skim:+.4f})", highlight=False)
    console.print("  mean tokens entering each layer: "
                  + " ".join(f"{t:.1f}" for t in rep.tokens_skim)
                  + f" (full {rep.tokens_full[0]:.1f})", highlight=False)
    console.print(f"  FLOP speedup {rep.flop_speedup:.3f}x (predictor {rep.predictor_macs:,} "
                  f"of {rep.macs_skim:,} MACs)", highlight=False)
    for name, c in rep.cycles.items():
        console.print(f"  {name} ({c['kind']}): {c['base']:,} -> {c['skim']:,} cycles, "
                      f"{c['base'] / max(1, c['skim']):.3f}x", highlight=False)
    return 0
