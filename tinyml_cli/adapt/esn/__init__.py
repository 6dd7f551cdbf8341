"""Echo state networks: leaky (deep, quantized) reservoirs, online readouts and anomaly detection."""

from __future__ import annotations

from .anomaly import ReservoirAnomaly
from .network import EchoStateNetwork
from .pca import IncrementalPca
from .readout import READOUTS, BatchRidge, Rls, make_readout
from .reservoir import KINDS, Reservoir, recurrent_weights, reservoir_cost, spectral_radius

__all__ = ["KINDS", "READOUTS", "BatchRidge", "EchoStateNetwork", "IncrementalPca", "Reservoir", "ReservoirAnomaly",
           "Rls", "make_readout", "recurrent_weights", "reservoir_cost", "spectral_radius"]
