"""The model's own byte-level BPE tokenizer, built from the GGUF vocabulary and merges with the
``tokenizers`` library (Hugging Face's, the same algorithm the model was trained with).

The pre-tokenizer is GPT-2's byte-level regex split; GGUF pre-tokenizer ``smollm`` (SmolLM2)
also splits digits one by one, as the model's own ``tokenizer.json`` does.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from workloads.errors import WorkloadError
from workloads.llm.gguf_io import read_tokenizer

CONTROL = 3   # GGUF token type of special tokens (<|im_start|>, ...)


class BpeTokenizer:
    """``encode(text) -> ids`` and ``decode(ids) -> text``."""

    def __init__(self, path: str | Path) -> None:
        try:
            from tokenizers import Tokenizer, decoders, models, pre_tokenizers
        except ImportError:
            raise WorkloadError("the LLM tokenizer needs the tokenizers package: pip install "
                                "'archsim[llm]'", where=str(path)) from None
        data = read_tokenizer(path)
        vocab = {tok: i for i, tok in enumerate(data.tokens)}
        merges = [tuple(m.split(" ", 1)) for m in data.merges]
        tok: Any = Tokenizer(models.BPE(vocab, merges))
        byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
        if data.pre == "smollm":
            tok.pre_tokenizer = pre_tokenizers.Sequence(
                [pre_tokenizers.Digits(individual_digits=True), byte_level])
        else:
            tok.pre_tokenizer = byte_level
        tok.decoder = decoders.ByteLevel()
        specials = [t for t, kind in zip(data.tokens, data.token_types, strict=False)
                    if kind == CONTROL]
        tok.add_special_tokens(specials)
        self._tok = tok
        self.bos, self.eos = data.bos, data.eos
        self.vocab_size = len(data.tokens)

    def encode(self, text: str) -> list[int]:
        return list(self._tok.encode(text, add_special_tokens=False).ids)

    def decode(self, ids: list[int]) -> str:
        return self._tok.decode(list(ids), skip_special_tokens=False)


@functools.lru_cache(maxsize=2)
def load_tokenizer(path: str) -> BpeTokenizer:
    return BpeTokenizer(path)
