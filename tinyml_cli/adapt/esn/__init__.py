"""Echo state networks: leaky (deep, quantized) reservoirs, online readouts and anomaly detection."""

from __future__ import annotations

from .network import EchoStateNetwork
from .readout import READOUTS, BatchRidge, Rls
from .reservoir import KINDS, Reservoir, recurrent_weights, spectral_radius

__all__ = ["KINDS", "READOUTS", "BatchRidge", "EchoStateNetwork", "Reservoir", "Rls", "recurrent_weights",
           "spectral_radius"]
