"""Every calibration constant of the cost model, in one place.

The estimator turns a LayerGraph into bytes and cycles with the constants below. They are first
guesses from the sources named next to each one; the export branch measures TFLite Micro's real
arena (``interpreter.arena_used_bytes()``) and real ``.tflite`` file sizes and tunes them here.
Nothing else in ``tinyml_cli.estimate`` holds a magic number.
"""

from __future__ import annotations

# --- flash: the .tflite flatbuffer ------------------------------------------------------------------
# Weights are int8, biases int32 (TFLite's full-integer quantization spec). Conv and depthwise weights
# are quantized per output channel: a float32 scale and an int64 zero point per channel, and the bias
# of such a layer carries the same per-channel pair (scale = input scale * weight scale). Fully
# connected weights are quantized per tensor (the converter's default), so they carry one pair.
BIAS_BYTES = 4
QUANT_PARAM_BYTES_PER_CHANNEL = 4 + 8          # float32 scale + int64 zero point
# Calibrated on files written by tinyml_cli/export/tflite_writer.py (scripts/bench_export.py: 40
# random architectures of both spaces, least-squares fit of file size - weight data - quantization
# parameters; residual median 10 bytes). Flatbuffers shares identical vtables, so a layer costs its
# activation Tensor (type, buffer, shape, name, one-scale Quantization: FLASH_TENSOR_BYTES + a short
# name) plus its Operator (opcode index, input/output vectors, builtin options: FLASH_OPERATOR_BYTES),
# 132 bytes together.
FLASH_TENSOR_BYTES = 64
FLASH_TENSOR_NAME_BYTES = 16
# A constant tensor (weights or bias) costs 123 bytes beyond its data and per-channel parameters: its
# Tensor table and name, its Buffer table and the 16-byte alignment padding of the data.
FLASH_BUFFER_BYTES = 43
FLASH_OPERATOR_BYTES = 52
# Model header, version, operator codes, subgraph table, description, the input tensor's share, and
# the one small int32 constant every network of our spaces has (MEAN's axes or RESHAPE's new shape).
FLASH_MODEL_BYTES = 618

# --- SRAM: TensorFlow Lite Micro's arena -------------------------------------------------------------
# The non-persistent part is planned by GreedyMemoryPlanner (micro/memory_planner/
# greedy_memory_planner.cc) over buffers whose sizes MicroAllocator rounds up to
# MicroArenaBufferAlignment() = 16 bytes.
ARENA_ALIGNMENT = 16
# Planning borrows the non-persistent area before the plan is committed (MicroAllocator::
# CommitStaticMemoryPlan), so the arena must hold, for a moment: an AllocationInfo per tensor and per
# scratch buffer (size, output pointer, first and last use, offline offset, flag: 32 bytes on the
# 64-bit host, 24 on a 32-bit MCU), the greedy planner's records per planned buffer
# (BufferRequirements 16 bytes, ListEntry 12, three int arrays 12) and a request record per kernel
# scratch buffer. Small models need more arena than TFLM reports using because of it; measured as
# the smallest arena TFLM accepts (tflm_runner.required_arena, bisected), within 60 bytes.
ALLOCATION_INFO_BYTES = 32
PLANNER_BYTES_PER_BUFFER = 16 + 12 + 12
SCRATCH_REQUEST_BYTES = 16
# Persistent allocations (tail of the arena), measured with tflite-micro's RecordingMicroAllocator
# (scripts/bench_export.py; single-op models for the per-op split, then a least-squares fit over 40
# random architectures, residual at most 23 bytes). The sizes are those of the 64-bit host build the
# Python interpreter runs; a 32-bit MCU needs less (a TfLiteEvalTensor is 12 bytes there, a
# NodeAndRegistration 40), so on-device the estimate errs on the safe side by ~10-20% of the tail.
# One TfLiteEvalTensor per tensor (data pointer, dims pointer, type), activations and constants alike.
ARENA_EVAL_TENSOR_BYTES = 24
# Per operator: NodeAndRegistration (64 bytes), the parsed builtin options and the kernel's OpData;
# MEAN and RESHAPE also carry their int32 shape constant's TfLiteEvalTensor.
ARENA_OP_BYTES = {"conv2d": 168, "depthwise_conv2d": 184, "fully_connected": 176, "add": 136,
                  "avg_pool": 152, "max_pool": 128, "mean": 145, "reshape": 116, "softmax": 180}
ARENA_OP_BYTES_DEFAULT = 160
# Conv and depthwise kernels keep an int32 output multiplier and an int32 shift per output channel.
ARENA_PER_CHANNEL_BYTES = 4 + 4
# MicroAllocator, SubgraphAllocations, the interpreter's input and output TfLiteTensors with their
# quantization data, and the memory planner object itself.
ARENA_FIXED_BYTES = 714

# Scratch buffers requested by the optimized kernels (CMSIS-NN on Cortex-M, ESP-NN on the S3): live
# only during their own operator. CMSIS-NN arm_convolve_s8 im2col keeps two columns of int16:
# 2 * in_channels * kh * kw * 2 bytes (none for 1x1 stride-1 convs, which take arm_convolve_1x1_s8_fast);
# arm_depthwise_conv_s8_opt keeps in_channels * kh * kw int16 (none for 3x3, which take
# arm_depthwise_conv_3x3_s8).
# TFLM's reference kernels (what tflite-micro's Python interpreter runs, and what the calibration
# measured: its arena head equals the activations' greedy plan to the byte) request no scratch, so
# the element size is 0; set it to 2 to model a CMSIS-NN build.
SCRATCH_CONV_COLUMNS = 2
SCRATCH_ELEMENT_BYTES = 0
# TFLM's MEAN kernel (reference on every platform, micro/kernels/reduce_common.cc) requests three
# scratch buffers: a 4-D index and the resolved axes (an int each: 16 and 8 bytes, so 16 and 16
# after alignment) and, for int8/int16 inputs, an int32 sum per output element. Checked against the
# TFLM runtime's own arena plan (tests/test_tflm_arena.py).
MEAN_SCRATCH_BYTES = (4 * 4, 2 * 4)
MEAN_SUM_BYTES = 4

# --- latency -----------------------------------------------------------------------------------------
# Cycles per multiply-accumulate of int8 kernels, by core family and kernel kind ("pointwise" is a 1x1
# conv, "conv" any other conv). Sources, all end-to-end measurements divided by the model's MACs:
# - m7 / m4: CMSIS-NN (Lai et al., "CMSIS-NN", 2018: ~1 cycle/MAC for dot products with SMLAD on M7,
#   about twice that on M4), MCUNet (Lin et al., NeurIPS 2020, Table: MobileNetV2 on STM32F746 with
#   TF-Lite Micro + CMSIS-NN) and MLPerf Tiny v0.5/v1.0 results on STM32L4R5 (visual wake words,
#   MobileNetV1-0.25, ~7.5 M MACs, ~200 ms at 120 MHz: ~3 cycles/MAC overall). Depthwise kernels
#   reuse few weights per load and run ~2x slower per MAC than pointwise ones (TinyEngine, MCUNet).
# - m0plus: no DSP extension (no SMLAD), so CMSIS-NN falls back to its pure-C loops: a load, a
#   multiply and an add per MAC plus loop overhead; the RP2040 person-detection example runs at
#   roughly 8-10 cycles/MAC.
# - lx7: ESP-NN's SIMD kernels on the ESP32-S3 (esp-nn README kernel benchmarks; esp-tflite-micro's
#   person detection in ~55 ms at 240 MHz, ~1.7 cycles/MAC overall).
CYCLES_PER_MAC = {
    "m0plus": {"pointwise": 8.0, "conv": 9.0, "depthwise": 11.0, "fully_connected": 8.0},
    "m4": {"pointwise": 2.0, "conv": 2.5, "depthwise": 4.5, "fully_connected": 2.2},
    "m7": {"pointwise": 1.1, "conv": 1.4, "depthwise": 2.5, "fully_connected": 1.3},
    "lx7": {"pointwise": 0.9, "conv": 1.3, "depthwise": 2.2, "fully_connected": 1.2},
}
# Cycles per element for element-wise and reduction ops (counted on the op's input elements):
# requantizing ADD ~ 10 cycles on M4 (CMSIS-NN arm_elementwise_add_s8), pools/mean a load and add per
# input element, SOFTMAX an exp lookup per element, RESHAPE a memcpy.
CYCLES_PER_ELEMENT = {
    "m0plus": {"add": 24.0, "avg_pool": 6.0, "max_pool": 6.0, "mean": 6.0, "reshape": 1.0, "softmax": 120.0},
    "m4": {"add": 10.0, "avg_pool": 3.0, "max_pool": 3.0, "mean": 3.0, "reshape": 0.5, "softmax": 60.0},
    "m7": {"add": 6.0, "avg_pool": 2.0, "max_pool": 2.0, "mean": 2.0, "reshape": 0.3, "softmax": 40.0},
    "lx7": {"add": 5.0, "avg_pool": 2.0, "max_pool": 2.0, "mean": 2.0, "reshape": 0.3, "softmax": 40.0},
}
# Fixed cost of invoking one operator in TFLM (node dispatch, parameter setup, requantization tables).
CYCLES_PER_OP = {"m0plus": 4000.0, "m4": 2000.0, "m7": 1500.0, "lx7": 1500.0}
# Float32 models (a .tflite that was not quantized) run the reference float kernels: with a single
# precision FPU (M4F, M7, LX7) about 3x the int8 SIMD cost, without one (M0+) soft-float, ~20x.
FLOAT_SLOWDOWN = {"m0plus": 20.0, "m4": 3.0, "m7": 3.0, "lx7": 3.0}
