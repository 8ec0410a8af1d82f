"""The config models' fields for simulator.config.plain, written by `python -m simulator.config.plain`
from the models: do not edit (tests/test_config_plain.py checks it is what they say)."""
# ruff: noqa: E501

SOURCE_DIGEST = 'da38b168'

KINDS = {'systolic': 'simulator.config.systolic:SystolicConfig'}

MODELS = {
    'simulator.config.systolic:SystolicConfig': {
        'kind': {'default': 'systolic', 'type': 'literal', 'choices': ['systolic']},
        'name': {'default': 'systolic', 'type': 'str'},
        'clock_ghz': {'default': 1.0, 'gt': 0, 'type': 'float'},
        'dram': {'default': {'bandwidth': 32.0, 'latency': 100}, 'type': 'model', 'model': 'simulator.config.base:DramConfig'},
        'word_bytes': {'default': 1, 'ge': 1, 'le': 8, 'type': 'int'},
        'energy': {'default': {'mac_pj': 0.2, 'sram_pj_per_byte': None, 'sram_write_pj_per_byte': None, 'dram_pj_per_byte': 160.0, 'dram_write_pj_per_byte': None, 'vector_pj_per_op': 0.1, 'sram_access_bits': 64, 'node_nm': 45, 'vdd': 0.8, 'sram_leak_nw_per_bit': None, 'leakage': None, 'ert': None, 'ert_map': {}, 'ert_table': None}, 'type': 'model', 'model': 'simulator.config.base:EnergyTable'},
        'array': {'type': 'model', 'model': 'simulator.config.systolic:ArrayConfig'},
        'sram': {'default': {'ifmap_kb': 512, 'filter_kb': 512, 'ofmap_kb': 256}, 'type': 'model', 'model': 'simulator.config.systolic:SramConfig'},
        'vector': {'default': {'lanes': 128, 'pipeline': 4, 'costs': {}}, 'type': 'model', 'model': 'simulator.config.systolic:VectorConfig'},
        'datapath_bits': {'default': None, 'none': True, 'ge': 1, 'le': 64, 'type': 'int'},
        'precision_scalable': {'default': True, 'type': 'bool'},
        'scalesim': {'default': None, 'none': True, 'type': 'model', 'model': 'simulator.config.systolic:ScaleSimOptions'},
        'memory_gb': {'default': None, 'none': True, 'gt': 0, 'type': 'float'},
    },
    'simulator.config.base:DramConfig': {
        'bandwidth': {'default': 32.0, 'gt': 0, 'type': 'float'},
        'latency': {'default': 100, 'ge': 0, 'type': 'int'},
    },
    'simulator.config.base:EnergyTable': {
        'mac_pj': {'default': 0.2, 'ge': 0, 'type': 'float'},
        'sram_pj_per_byte': {'default': None, 'none': True, 'ge': 0, 'type': 'float'},
        'sram_write_pj_per_byte': {'default': None, 'none': True, 'ge': 0, 'type': 'float'},
        'dram_pj_per_byte': {'default': 160.0, 'ge': 0, 'type': 'float'},
        'dram_write_pj_per_byte': {'default': None, 'none': True, 'ge': 0, 'type': 'float'},
        'vector_pj_per_op': {'default': 0.1, 'ge': 0, 'type': 'float'},
        'sram_access_bits': {'default': 64, 'ge': 8, 'le': 8192, 'type': 'int'},
        'node_nm': {'default': 45, 'ge': 7, 'le': 130, 'type': 'float'},
        'vdd': {'default': 0.8, 'gt': 0, 'le': 2, 'type': 'float'},
        'sram_leak_nw_per_bit': {'default': None, 'none': True, 'ge': 0, 'type': 'float'},
        'leakage': {'default': None, 'none': True, 'type': 'bool'},
        'ert': {'type': 'default', 'default': None},
        'ert_map': {'type': 'default', 'default': {}},
        'ert_table': {'type': 'default', 'default': None},
    },
    'simulator.config.systolic:ArrayConfig': {
        'rows': {'ge': 1, 'le': 65536, 'type': 'int'},
        'cols': {'ge': 1, 'le': 65536, 'type': 'int'},
        'dataflow': {'default': 'ws', 'type': 'literal', 'choices': ['os', 'ws', 'is']},
    },
    'simulator.config.systolic:SramConfig': {
        'ifmap_kb': {'default': 512, 'gt': 0, 'type': 'float'},
        'filter_kb': {'default': 512, 'gt': 0, 'type': 'float'},
        'ofmap_kb': {'default': 256, 'gt': 0, 'type': 'float'},
    },
    'simulator.config.systolic:VectorConfig': {
        'lanes': {'default': 128, 'ge': 1, 'type': 'int'},
        'pipeline': {'default': 4, 'ge': 0, 'type': 'int'},
        'costs': {'type': 'default', 'default': {}},
    },
    'simulator.config.systolic:ScaleSimOptions': {
        'run_name': {'default': 'scale_run', 'type': 'str'},
        'bandwidth_mode': {'default': 'calc', 'type': 'literal', 'choices': ['calc', 'user']},
        'ifmap_offset': {'default': 0, 'type': 'int'},
        'filter_offset': {'default': 10000000, 'type': 'int'},
        'ofmap_offset': {'default': 20000000, 'type': 'int'},
        'ifmap_dram_bandwidth': {'default': 10, 'ge': 1, 'type': 'int'},
        'filter_dram_bandwidth': {'default': 10, 'ge': 1, 'type': 'int'},
        'ofmap_dram_bandwidth': {'default': 10, 'ge': 1, 'type': 'int'},
        'read_request_buffer': {'default': 32, 'ge': 1, 'type': 'int'},
        'write_request_buffer': {'default': 32, 'ge': 1, 'type': 'int'},
    },
}
