"""The TFLite flatbuffer, read and written with the ``tflite`` schema bindings: what ``estimate`` and
``export`` share (neither imports the other)."""
