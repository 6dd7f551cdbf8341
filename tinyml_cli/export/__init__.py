"""Quantization, the TFLite writer and reader, C sources, verification in interpreters."""
