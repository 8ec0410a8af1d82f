"""Vector costs are a hardware property: the catalogue gives the defaults, each kind's config
overrides them in a ``vector.costs`` table, and the lowering hard-codes none."""

from __future__ import annotations

import pytest
from conftest import CONFIGS

from simulator import api
from simulator.errors import ConfigError


def vec_work(trace, op_type: str) -> int:
    names = {layer.name for layer in trace.layers if layer.op == op_type}
    return sum(i.dims["work"] for i in trace.instructions if i.op == "VEC" and i.layer in names)


@pytest.mark.parametrize(("config", "key"), [("systolic-32-ws.yaml", "vector.costs"),
                                             ("mlu-4.yaml", "core.vector.costs"),
                                             ("dstc.yaml", "vector.costs")])
def test_a_number_replaces_the_default_per_output_cost(config, key):
    base = api.load_config(CONFIGS / config)
    dear = api.load_config(CONFIGS / config, {key: {"Relu": 7}})
    workload = "zoo:tiny_cnn"
    cheap_trace, dear_trace = api.lower(base, workload), api.lower(dear, workload)
    relus = sum(layer.dims["elements"] for layer in cheap_trace.layers if layer.op == "Relu")
    assert vec_work(cheap_trace, "Relu") == relus          # the catalogue: 1 per output
    assert vec_work(dear_trace, "Relu") == 7 * relus
    assert vec_work(dear_trace, "Conv") == vec_work(cheap_trace, "Conv")   # others unchanged
    slower = api.simulate(dear_trace, dear).total_cycles
    assert slower > api.simulate(cheap_trace, base).total_cycles


def test_cost_terms_replace_only_the_terms_named():
    cfg = api.load_config(CONFIGS / "systolic-32-ws.yaml",
                          {"vector.costs": {"MaxPool": {"per_tap": 2, "per_output": 1}}})
    trace = api.lower(cfg, "zoo:resnet50?size=32")
    pools = [layer for layer in trace.layers if layer.op == "MaxPool"]
    assert pools and all(p.args["attrs"]["kernel_shape"] == [3, 3] for p in pools)
    for layer in pools:   # 3x3 windows: out x (1 + 2 x 9); the default is out x 9
        work = sum(i.dims["work"] for i in trace.instructions if i.layer == layer.name
                   and i.op == "VEC")
        assert work == layer.dims["elements"] * (1 + 2 * 9)


def test_zipper_overrides_gnn_operator_costs():
    base = api.load_config(CONFIGS / "zipper.yaml")
    dear = api.load_config(CONFIGS / "zipper.yaml", {"vector.costs": {"GnnEdgeSoftmax": 10}})
    cheap, costly = api.lower(base, "gnn:gat:cora"), api.lower(dear, "gnn:gat:cora")
    assert vec_work(costly, "GnnEdgeSoftmax") == 2 * vec_work(cheap, "GnnEdgeSoftmax")  # 5 -> 10


def test_unknown_operator_or_term_is_a_located_config_error(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("kind: systolic\narray: {rows: 8, cols: 8}\nvector:\n  costs:\n"
                    "    Reluu: 2\n")
    with pytest.raises(ConfigError, match=r"c\.yaml:4: vector\.costs: unknown operator\(s\) "
                                          r"'Reluu'"):
        api.load_config(path)
    path.write_text("kind: systolic\narray: {rows: 8, cols: 8}\nvector:\n  costs:\n"
                    "    MaxPool: {per_tab: 2}\n")
    with pytest.raises(ConfigError, match="vector.costs.MaxPool.per_tab: got 'per_tab'"):
        api.load_config(path)
    path.write_text("kind: systolic\narray: {rows: 8, cols: 8}\nvector:\n  costs:\n"
                    "    Relu: -1\n")
    with pytest.raises(ConfigError, match="vector.costs.Relu"):
        api.load_config(path)
