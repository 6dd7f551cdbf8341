"""Cost models on the layer-graph IR alone (no torch): counts, TFLM's memory planner, latency."""

from .model import Estimate, estimate

__all__ = ["Estimate", "estimate"]
