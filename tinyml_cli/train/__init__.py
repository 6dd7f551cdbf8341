"""Torch models built from the IR, and the training and evaluation loops."""
