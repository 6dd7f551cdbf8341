"""Measure exported models on an emulated Cortex-M: build firmware with TFLM, run it in QEMU, count instructions."""
