"""tinyml: design neural networks for microcontrollers and keep them accurate after deployment."""

__version__ = "0.1.0"
