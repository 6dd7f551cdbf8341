"""Our own inference engine: a QuantizedModel generated as a self-contained C99 library (``codegen``)
with TFLite's reference int8 arithmetic (``c/tinyml_kernels.c``, ``kernels``, ``requant``) and one
static arena laid out offline (``planner``)."""
