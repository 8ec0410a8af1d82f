"""Resize and Upsample: nearest, linear and cubic interpolation (ONNX spec), separable per axis.

Each resized axis maps output index ``o`` to a source coordinate by the
``coordinate_transformation_mode`` (half_pixel, half_pixel_symmetric, pytorch_half_pixel,
align_corners, asymmetric, tf_crop_and_resize), then mixes the ``n`` nearest source elements
(edge-clamped) with the mode's coefficients: nearest (the ``nearest_mode`` rounding), linear
(2 taps) or cubic (4 taps, ``cubic_coeff_a``, ``exclude_outside``); ``antialias`` widens the
linear/cubic filter by 1/scale when downsampling. ``keep_aspect_ratio_policy`` and ``axes``
(opset 18) pick the sizes. Resize-10 and Upsample use the asymmetric mapping and, for nearest,
floor when enlarging and ceil when shrinking (onnxruntime's rule for those opsets). On a vector
unit a resize costs 2 operations per tap per output element.
"""

from __future__ import annotations

import math

import numpy as np

from workloads.errors import WorkloadError
from workloads.graph import Op
from workloads.ops.catalogue import Call, OpSpec, VectorCost, register
from workloads.ops.importing import Context, ImportRule, Node, Shape

MODES = ("nearest", "linear", "cubic")


def _nearest(ratio: np.ndarray, mode: str, shrinking: bool) -> np.ndarray:
    """Two taps (left, right) selecting one of them by the rounding mode."""
    whole = ratio == 1.0
    if mode == "round_prefer_floor":
        right = ratio > 0.5
    elif mode == "round_prefer_ceil":
        right = ratio >= 0.5
    elif mode == "floor":
        right = np.zeros_like(ratio, dtype=bool)
    elif mode == "ceil":
        right = np.ones_like(ratio, dtype=bool)
    elif mode == "simple":   # Resize-10 / Upsample
        right = np.full(ratio.shape, shrinking)
    else:
        raise WorkloadError(f"unknown nearest_mode {mode!r}")
    right = right | whole
    return np.stack([~right, right], axis=1).astype(np.float64)


def _linear(ratio: np.ndarray, scale: float, antialias: bool) -> np.ndarray:
    if not antialias or scale >= 1:
        return np.stack([1 - ratio, ratio], axis=1)
    start = math.floor(-1 / scale) + 1
    offsets = np.arange(start, 2 - start)
    coeffs = np.clip(1 - np.abs((offsets[None, :] - ratio[:, None]) * scale), 0, 1)
    return coeffs / coeffs.sum(axis=1, keepdims=True)


def _cubic_kernel(x: np.ndarray, a: float) -> np.ndarray:
    x = np.abs(x)
    near = ((a + 2) * x - (a + 3)) * x * x + 1
    far = ((a * x - 5 * a) * x + 8 * a) * x - 4 * a
    return np.where(x <= 1, near, np.where(x < 2, far, 0.0))


def _cubic(ratio: np.ndarray, scale: float, a: float, antialias: bool) -> np.ndarray:
    if not antialias or scale >= 1:
        offsets = np.arange(-1, 3)
        return _cubic_kernel(offsets[None, :] - ratio[:, None], a)
    start = math.floor(-2 / scale) + 1
    offsets = np.arange(start, 2 - start)
    coeffs = _cubic_kernel((offsets[None, :] - ratio[:, None]) * scale, a)
    return coeffs / coeffs.sum(axis=1, keepdims=True)


def _source(mode: str, out: int, size: int, scale: float, roi: tuple[float, float] | None
            ) -> np.ndarray:
    """Source coordinate of every output index along one axis."""
    y = np.arange(out, dtype=np.float64)
    width = scale * size
    if mode == "align_corners":
        return np.zeros(out) if width == 1 else y * (size - 1) / (width - 1)
    if mode == "asymmetric":
        return y / scale
    if mode == "tf_crop_and_resize":
        lo, hi = roi if roi is not None else (0.0, 1.0)
        if width == 1:
            x = np.full(out, (hi - lo) * (size - 1) / 2)
        else:
            x = y * (hi - lo) * (size - 1) / (width - 1)
        return x + lo * (size - 1)
    if mode == "pytorch_half_pixel":
        return np.full(out, -0.5) if width == 1 else (y + 0.5) / scale - 0.5
    if mode == "half_pixel":
        return (y + 0.5) / scale - 0.5
    if mode == "half_pixel_symmetric":
        offset = size / 2 * (1 - out / width)
        return offset + (y + 0.5) / scale - 0.5
    raise WorkloadError(f"unknown coordinate_transformation_mode {mode!r}")


def resize_axis(data: np.ndarray, axis: int, out: int, scale: float, attrs: dict,
                roi: tuple[float, float] | None) -> np.ndarray:
    """Resize ``data`` along one axis to ``out`` elements."""
    size = data.shape[axis]
    ctm = attrs.get("coordinate_transformation_mode", "half_pixel")
    x = _source(ctm, out, size, scale, roi)
    base = np.ceil(x).astype(np.int64) - 1          # the left neighbour; ratio in (0, 1]
    ratio = x - base
    mode = attrs.get("mode", "nearest")
    antialias = bool(attrs.get("antialias", 0))
    if mode == "nearest":
        coeffs = _nearest(ratio, attrs.get("nearest_mode", "round_prefer_floor"), scale < 1)
    elif mode == "linear":
        coeffs = _linear(ratio, scale, antialias)
    elif mode == "cubic":
        coeffs = _cubic(ratio, scale, float(attrs.get("cubic_coeff_a", -0.75)), antialias)
    else:
        raise WorkloadError(f"unknown Resize mode {mode!r}; accepted: {', '.join(MODES)}")
    n = coeffs.shape[1]
    index = base[:, None] + np.arange(n)[None, :] - (n // 2 - 1)
    if attrs.get("exclude_outside", 0):
        coeffs = np.where((index < 0) | (index >= size), 0.0, coeffs)
        total = coeffs.sum(axis=1, keepdims=True)
        coeffs = coeffs / np.where(total == 0, 1.0, total)
    gathered = np.take(data.astype(np.float64), np.clip(index, 0, size - 1), axis=axis)
    shape = (1,) * axis + coeffs.shape + (1,) * (data.ndim - axis - 1)
    result = (gathered * coeffs.reshape(shape)).sum(axis=axis + 1)
    if ctm == "tf_crop_and_resize":
        outside = (x < 0) | (x > size - 1)
        mask = outside.reshape((1,) * axis + (out,) + (1,) * (data.ndim - axis - 1))
        result = np.where(mask, float(attrs.get("extrapolation_value", 0.0)), result)
    return result


def plan(shape: Shape, attrs: dict, scales: list[float] | None, sizes: list[int] | None
         ) -> tuple[list[int], list[float]]:
    """Output sizes and per-axis scale factors (``axes``, ``keep_aspect_ratio_policy``)."""
    rank = len(shape)
    axes = [a % rank for a in attrs.get("axes") or range(rank)]
    scale = [1.0] * rank
    out = list(shape)
    if sizes:
        if len(sizes) != len(axes):
            raise WorkloadError(f"sizes has {len(sizes)} values for {len(axes)} axes")
        for a, s in zip(axes, sizes, strict=True):
            scale[a] = s / shape[a]
            out[a] = int(s)
        policy = attrs.get("keep_aspect_ratio_policy", "stretch")
        if policy != "stretch":
            pick = min if policy == "not_larger" else max
            common = pick(scale[a] for a in axes)
            for a in axes:
                scale[a] = common
                out[a] = int(math.floor(common * shape[a] + 0.5))
    elif scales:
        if len(scales) != len(axes):
            raise WorkloadError(f"scales has {len(scales)} values for {len(axes)} axes")
        for a, s in zip(axes, scales, strict=True):
            if s <= 0:
                raise WorkloadError(f"scales must be positive, got {s}")
            scale[a] = float(s)
            out[a] = int(math.floor(shape[a] * s))
    else:
        raise WorkloadError("Resize needs scales or sizes")
    return out, scale


def _roi(roi: np.ndarray | None, rank: int, attrs: dict) -> list[tuple[float, float] | None]:
    if roi is None or np.asarray(roi).size == 0:
        return [None] * rank
    values = np.asarray(roi, dtype=np.float64).reshape(-1)
    axes = [a % rank for a in attrs.get("axes") or range(rank)]
    k = len(axes)
    out: list[tuple[float, float] | None] = [None] * rank
    for i, a in enumerate(axes):
        out[a] = (float(values[i]), float(values[k + i]))
    return out


def _operands(c: Call) -> tuple[np.ndarray | None, list[float] | None, list[int] | None]:
    """(roi, scales, sizes) across the opsets' input layouts and recorded attributes."""
    if c.op == "Upsample" or c.opset is not None and c.opset < 11 or "legacy" in c.attrs:
        values = c.input(1)
        if values is None:
            values = c.attrs.get("scales_list") or c.attrs.get("scales")
        if values is None and c.attrs.get("height_scale") is not None:   # Upsample-1
            values = [1.0, 1.0, c.attrs["height_scale"], c.attrs["width_scale"]]
        scales = None if values is None else \
            [float(v) for v in np.asarray(values).reshape(-1)]
        return None, scales, None
    roi = c.input(1)
    scales_in, sizes_in = c.input(2), c.input(3)
    scales = [float(v) for v in np.asarray(scales_in).reshape(-1)] \
        if scales_in is not None and np.asarray(scales_in).size else None
    sizes = [int(v) for v in np.asarray(sizes_in).reshape(-1)] \
        if sizes_in is not None and np.asarray(sizes_in).size else None
    if scales is None and sizes is None:
        scales = c.attrs.get("scales_list") or None
        sizes = c.attrs.get("sizes_list") or None
    return roi, scales, sizes


def legacy_attrs(attrs: dict, opset: int | None, op: str) -> dict:
    """Resize-10 and Upsample: asymmetric coordinates, onnxruntime's nearest rounding."""
    if op == "Upsample" or (opset is not None and opset < 11) or "legacy" in attrs:
        return {**attrs, "coordinate_transformation_mode": "asymmetric",
                "nearest_mode": "simple", "mode": attrs.get("mode", "nearest")}
    return attrs


def _resize(c: Call) -> list[np.ndarray]:
    x = np.asarray(c.inputs[0])
    roi, scales, sizes = _operands(c)
    attrs = legacy_attrs(c.attrs, c.opset, c.op)
    out, scale = plan(x.shape, attrs, scales, sizes)
    rois = _roi(roi, x.ndim, attrs)
    y = x
    for axis in range(x.ndim):
        if out[axis] != x.shape[axis] or scale[axis] != 1.0 or rois[axis] is not None:
            y = resize_axis(y, axis, out[axis], scale[axis], attrs, rois[axis])
    if x.dtype.kind in "iu":
        info = np.iinfo(x.dtype)
        y = np.clip(np.rint(y), info.min, info.max)
    return [np.asarray(y).astype(x.dtype)]


def _shape(ctx: Context, node: Node) -> list[Shape]:
    """The output shape from the constant scales/sizes (recorded as attributes)."""
    c = Call(node.op_type, [None] * len(node.inputs), dict(node.attrs), opset=node.opset)
    legacy = node.op_type == "Upsample" or node.opset < 11
    names = {"scales": 1} if legacy else {"roi": 1, "scales": 2, "sizes": 3}
    values = {k: ctx.const(node.input(i)) for k, i in names.items()}
    for key, i in names.items():
        if node.input(i) and values[key] is None:
            raise WorkloadError(f"the output size depends on the runtime value of "
                                f"{node.input(i)!r}; pin it with --input-value or make it a "
                                "constant")
    c.inputs = [None] + [values.get(k) for k in names]
    if legacy and values.get("scales") is None and node.attrs.get("scales") is not None:
        c.attrs["scales"] = node.attrs["scales"]
    _, scales, sizes = _operands(c)
    out, _ = plan(ctx.shape(node.inputs[0]), legacy_attrs(node.attrs, node.opset,
                                                          node.op_type), scales, sizes)
    return [tuple(out)]


def _attrs(ctx: Context, node: Node) -> dict:
    """Record the constant scales/sizes (and the legacy form) for functional execution."""
    legacy = node.op_type == "Upsample" or node.opset < 11
    attrs: dict = {"legacy": 1} if legacy else {}
    names = {"scales_list": 1} if legacy else {"scales_list": 2, "sizes_list": 3}
    for key, i in names.items():
        value = ctx.const(node.input(i))
        if value is not None and np.asarray(value).size:
            cast = float if key == "scales_list" else int
            attrs[key] = [cast(v) for v in np.asarray(value).reshape(-1)]
    return attrs


def _taps(op: Op) -> int:
    """Source elements mixed per output element: 1 (nearest), 2 (linear), 4 (cubic) per resized
    axis."""
    per_axis = {"nearest": 1, "linear": 2, "cubic": 4}.get(op.attrs.get("mode", "nearest"), 1)
    factors = op.attrs.get("scales_list") or op.attrs.get("sizes_list") or [1, 1]
    resized = sum(1 for f in factors[-2:] if f != 1) or 1
    return per_axis ** resized


_RULE = ImportRule(fold=True, shape=_shape, exact=True, attrs=_attrs)
register(OpSpec("Resize", "", 10, None, "data_movement",
                "nearest/linear/cubic interpolation (coordinate modes, antialias, axes)",
                importer=_RULE, semantics=_resize, cost=VectorCost(per_tap=2), taps=_taps))
register(OpSpec("Upsample", "", 1, None, "data_movement",
                "nearest/linear upsampling by scales (deprecated form of Resize)",
                importer=_RULE, semantics=_resize, cost=VectorCost(per_tap=2), taps=_taps))
