"""The operator catalogue: one entry per operator, the only list of operators in archsim.

Each :class:`OpSpec` (domain, type, opset range) holds the operator's category, how the ONNX
importer turns a node into Graph ops (its shape rule), its numpy reference semantics (constant
folding and functional execution) and its default cost on a vector unit. The ONNX frontend,
constant folding, functional execution of traces and every lowering read it; ``archsim ops``
prints it. One module per family::

    constant.py       Constant, ConstantOfShape, Shape, Size, Range          (control)
    elementwise.py    arithmetic, logic, activations, math functions, Cast
    matmul.py         Gemm, MatMul, and GEMM decomposition (gemm_shapes)
    window.py         Conv, ConvTranspose, pooling
    normalization.py  Softmax family, Batch/Layer/Instance/Lp/MVN normalization, LRN
    reduction.py      Reduce*, ArgMax, ArgMin
    shape.py          views (Reshape...) and data movement (Transpose, Concat, Gather...)
    quantization.py   QuantizeLinear, DequantizeLinear, DynamicQuantizeLinear
    indexing.py       GatherElements, ScatterND, OneHot, Trilu, TopK, CumSum, Bitwise*, RMSNorm...
    integer.py        MatMulInteger, ConvInteger, QLinearMatMul, QLinearConv (int8 GEMMs)
    resize.py         Resize, Upsample
    control.py        If, Loop, Scan (decomposed at import: branch taken, bodies unrolled)
    recurrent.py      LSTM, GRU, RNN (decomposed at import into per-time-step GEMMs)
    decompose.py      the Builder decompositions use (catalogue nodes on behalf of one node)
    gnn.py            the GNN IR's SAGA ops (domain archsim.gnn)

Only numpy, the Graph IR and :mod:`workloads.errors` are imported here (onnx lazily, inside
functions), so ``import workloads.ops`` stays light.
"""

from __future__ import annotations

from workloads.ops import (  # noqa: F401  (registration: each family adds its entries)
    constant,
    control,
    elementwise,
    gnn,
    indexing,
    integer,
    matmul,
    normalization,
    quantization,
    recurrent,
    reduction,
    resize,
    shape,
    window,
)
from workloads.ops.catalogue import (
    CATEGORIES,
    COST_TERMS,
    GNN_DOMAIN,
    ONNX_DOMAIN,
    VECTOR_CATEGORIES,
    Call,
    OpSpec,
    VectorCost,
    category,
    evaluate,
    find,
    get,
    has_vector_cost,
    is_gnn,
    is_matmul,
    is_view,
    register,
    run_graph,
    specs,
    vector_work,
)
from workloads.ops.matmul import (
    GemmShape,
    element_bytes,
    element_width,
    gemm_shapes,
    matmul_shape,
    needs_im2col,
)

__all__ = ["CATEGORIES", "COST_TERMS", "GNN_DOMAIN", "ONNX_DOMAIN", "VECTOR_CATEGORIES", "Call",
           "GemmShape", "OpSpec", "VectorCost", "category", "element_bytes", "element_width",
           "evaluate", "find", "gemm_shapes", "get", "has_vector_cost", "is_gnn", "is_matmul",
           "is_view", "matmul_shape", "needs_im2col", "register", "run_graph", "specs",
           "vector_work"]
