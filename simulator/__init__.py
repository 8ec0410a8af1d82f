"""archsim: a cycle-level simulator framework for DNN accelerators."""

__version__ = "0.1.0"
