"""Concept-drift streams: sources, drift schedules and kinds, label regimes, change detectors."""
