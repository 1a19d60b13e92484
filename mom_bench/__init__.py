"""mom-bench: benchmarks for detectors of AI-generated music."""

__version__ = "0.1.0"
