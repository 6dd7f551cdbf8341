"""Our own inference engine: a QuantizedModel generated as a self-contained C99 library (``codegen``)
with TFLite's reference int8 arithmetic (``c/tinyml_kernels.c``, ``kernels``, ``requant``), one
static arena laid out offline (``planner``), optionally with the first layers run patch by patch
(``patches``, ``c/tinyml_patch.c``), and its sizes on a Cortex-M (``size``)."""
