"""Every calibration constant of the cost model, in one place.

The estimator turns a LayerGraph into bytes and cycles with the constants below, each with the
source it rests on. Checked so far (tests/test_tflm_arena.py, tests/test_tflite_reader.py): the
planned arena equals the TFLM runtime's own plan ("head" in its allocation log) byte for byte; the
persistent part sits just below the host runtime's "tail" (64-bit pointers there, 32-bit here); the
flash model is within 4% of a converter-made file. Latency constants are published-figure estimates
awaiting measurements on boards. Refit them here; nothing else in ``tinyml_cli.estimate`` holds a
magic number.
"""

from __future__ import annotations

# --- flash: the .tflite flatbuffer ------------------------------------------------------------------
# Weights are int8, biases int32 (TFLite's full-integer quantization spec). Conv and depthwise weights
# are quantized per output channel: a float32 scale and an int64 zero point per channel, and the bias
# of such a layer carries the same per-channel pair (scale = input scale * weight scale). Fully
# connected weights are quantized per tensor (the converter's default), so they carry one pair.
BIAS_BYTES = 4
# TFLite's 16x8 scheme (int16 activations, int8 weights) keeps its bias in int64 (the quantization
# spec, tensorflow/lite/kernels/conv.cc and TFLM's conv_common.cc accept an int64 bias for int16).
BIAS_BYTES_INT16_ACTIVATIONS = 8
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
# The float front of an input normalization (arch/normalization.py): per operator 120 bytes (its
# Operator, its float32 output Tensor without quantization, its share of the operator codes), per
# float32 / int32 constant 85 bytes beyond its data. Fitted on the file-size differences with and
# without each front on three networks (standardize: +560 to +592 bytes, z-norm: +1,136; residual
# <= 10 bytes).
FLASH_FRONT_OPERATOR_BYTES = 120
FLASH_FRONT_CONSTANT_BYTES = 85
# Model header, version, operator codes, subgraph table, description, the input tensor's share, and
# the one small int32 constant every network of our spaces has (MEAN's axes or RESHAPE's new shape).
FLASH_MODEL_BYTES = 618
# Each further OperatorCode (a builtin at a second version, such as an int4 CONV_2D beside an int8
# one, or a requantizing QUANTIZE): its table and offset, 24 bytes (measured: files with 1 to 6
# distinct codes of one builtin grow by 24 bytes a code beyond the second).
FLASH_OPERATOR_CODE_BYTES = 24

# --- flash: the runtime beside the model -------------------------------------------------------------
# MEASURED per core on firmwares built as tinyml profile builds them (TFLM + CMSIS-NN at the vendored
# revisions, Debian's arm-none-eabi-gcc 12.2 with newlib-nano, -O2 kernels, --gc-sections; the
# runner's own code and printf included, the model and test inputs not): text + data of a model of
# one RESHAPE ("base"); each op kind's exclusive code (a model of all nine IR op kinds less the same
# model without that kind); "shared", what all nine hold beyond the base and the exclusive code
# (kernel helpers, CMSIS-NN support, quantization utilities). A model's runtime = base + shared + the
# exclusive code of its builtins (estimate/runtime_flash.py); a builtin not measured costs the mean
# of those measured. Refit with: PYTHONPATH=. python scripts/fit_runtime_flash.py
RUNTIME_FLASH = {
    "m4": {"base": 32480, "shared": 8344, "CONV_2D": 24956, "DEPTHWISE_CONV_2D": 17216, "ADD": 11624,
           "MAX_POOL_2D": 2560, "AVERAGE_POOL_2D": 2304, "MEAN": 4952, "RESHAPE": 1572, "FULLY_CONNECTED": 18024,
           "SOFTMAX": 9044},
    "m7": {"base": 32480, "shared": 8216, "CONV_2D": 25148, "DEPTHWISE_CONV_2D": 17280, "ADD": 11624,
           "MAX_POOL_2D": 2560, "AVERAGE_POOL_2D": 2368, "MEAN": 5016, "RESHAPE": 1572, "FULLY_CONNECTED": 18088,
           "SOFTMAX": 9108},
    "m33": {"base": 31984, "shared": 8272, "CONV_2D": 24956, "DEPTHWISE_CONV_2D": 17256, "ADD": 11584,
            "MAX_POOL_2D": 2584, "AVERAGE_POOL_2D": 2376, "MEAN": 5032, "RESHAPE": 1572, "FULLY_CONNECTED": 18680,
            "SOFTMAX": 8968},
}

# --- SRAM: TensorFlow Lite Micro's arena -------------------------------------------------------------
# The non-persistent part is planned by GreedyMemoryPlanner (micro/memory_planner/
# greedy_memory_planner.cc) over buffers whose sizes MicroAllocator rounds up to
# MicroArenaBufferAlignment() = 16 bytes.
ARENA_ALIGNMENT = 16
# While planning, TFLM keeps in the (not yet used) non-persistent area an AllocationInfo per tensor
# and per scratch buffer (size, output pointer, first and last use, offline offset, a flag: 24 bytes
# on a 32-bit MCU, 32 on the 64-bit host) and, per planned buffer, the greedy planner's
# BufferRequirements (16 bytes), ListEntry (12) and three int arrays (12). So that area is at least
# this big, which decides it for models of many tiny tensors (the host runtime needs exactly this
# much more arena than its plan for such models: tests/test_tflm_arena.py).
ALLOCATION_INFO_BYTES = 24
PLANNER_BYTES_PER_BUFFER = 16 + 12 + 12
# Each kernel scratch buffer is also requested first (ScratchBufferRequest: size and node index).
SCRATCH_REQUEST_BYTES = 8
# While kernels prepare, the request area keeps room for this many more (kMaxScratchBuffersPerOp,
# micro_allocator.cc); the kernel being prepared holds a temporary TfLiteTensor (ARENA_IO_TENSOR_BYTES
# and, quantized, ARENA_IO_QUANTIZATION_BYTES and 4 bytes per further scale) per input and output.
SCRATCH_REQUESTS_PER_OP = 12
# Persistent allocations (tail of the arena), for a 32-bit MCU. The TFLM runtime's host build
# (64-bit, tflite_micro Python package, RecordingMicroAllocator) measures the same items with 8-byte
# pointers; tests/test_tflm_arena.py holds this model just below its tail.
# One TfLiteEvalTensor per tensor (data pointer, dims pointer, type), activations and constants alike:
# 12 bytes here, 24 on the 64-bit host.
ARENA_EVAL_TENSOR_BYTES = 12
# Per operator: NodeAndRegistration (TfLiteNode = 6 pointers + an int, plus the registration pointer:
# 32 bytes here, 64 on the host), the parsed builtin options and the kernel's OpData (the host
# records ~76 bytes for conv and depthwise, ~30-50 for the others), each 16-byte aligned.
# The float front of an input normalization (``front_<TFLite op>``): the host's measured bytes (below)
# less the 32 bytes its 8-byte pointers add to NodeAndRegistration, rounded up to 16.
# Per TFLite builtin (estimate/file.py looks a .tflite's operators up by builtin first): the bytes one
# operator adds to the persistent tail on the 64-bit host build, MEASURED. A single-operator model per
# builtin (written with tinyml_cli/tflite/writer.py, as tests/test_ops_tflm.py writes them) allocated
# by tflite-micro's Python interpreter: its tail (RecordingMicroAllocator) less HOST_ARENA's fixed
# part (714 bytes, for one int8 input and one int8 output; a model with other ends corrected by 64
# bytes per further persistent input/output TfLiteTensor and 32 per quantized one's quantization
# data), less 24 bytes per tensor (TfLiteEvalTensor), less the op table's persistent bytes
# (tinyml_cli/ops: per-channel data, lookup tables, copied dims) and the variables. What is left is
# NodeAndRegistration (64), the parsed builtin options, the kernel's fixed OpData and its scratch
# buffer handles (8 bytes each). Every type variant measured gave the same figure (int8, int16,
# float32: CONV_2D, DEPTHWISE_CONV_2D, TRANSPOSE_CONV, ADD, POOL, MEAN, SOFTMAX, QUANTIZE, ...) but
# FULLY_CONNECTED (166 with a bias, 174 without: the 16-byte alignment of the tail; the mean is
# kept); chains of 1 to 5 equal operators add these bytes per operator within +-10.
# RELU_N1_TO_1, RELU_0_TO_1, GELU and REDUCE_PROD are not in TFLM's op resolver: not measured.
HOST_BUILTIN_OP_BYTES = {
    "CONV_2D": 182, "DEPTHWISE_CONV_2D": 182, "TRANSPOSE_CONV": 174, "FULLY_CONNECTED": 170,
    "BATCH_MATMUL": 110, "SVDF": 134, "UNIDIRECTIONAL_SEQUENCE_LSTM": 806,
    "ADD": 142, "SUB": 126, "MUL": 110, "DIV": 94, "SQUARED_DIFFERENCE": 174, "MAXIMUM": 62, "MINIMUM": 62,
    "RELU": 102, "RELU6": 70, "LEAKY_RELU": 102, "PRELU": 94, "HARD_SWISH": 86,
    "LOGISTIC": 86, "TANH": 86, "EXP": 54, "LOG": 54, "RSQRT": 102, "SQRT": 54,
    "QUANTIZE": 102, "DEQUANTIZE": 102, "CAST": 70,
    "RESHAPE": 94, "SQUEEZE": 102, "EXPAND_DIMS": 62, "TRANSPOSE": 62, "PAD": 126, "PADV2": 118,
    "MIRROR_PAD": 110, "CONCATENATION": 158, "STRIDED_SLICE": 174, "SLICE": 54, "SPLIT": 70, "SPLIT_V": 62,
    "PACK": 78, "UNPACK": 62, "GATHER": 78, "DEPTH_TO_SPACE": 54, "SPACE_TO_DEPTH": 54, "BROADCAST_TO": 62,
    "FILL": 62, "ZEROS_LIKE": 54,
    "AVERAGE_POOL_2D": 134, "MAX_POOL_2D": 134, "MEAN": 126, "SUM": 126, "REDUCE_MAX": 126, "REDUCE_MIN": 126,
    "SOFTMAX": 150, "LOG_SOFTMAX": 54,
}
# The same on a 32-bit MCU with TFLM's CMSIS-NN kernels: DERIVED from the host figures, not measured.
# NodeAndRegistration holds seven pointers and an int: 64 bytes on the host, 32 here. The parsed
# builtin options hold no pointer (the same bytes on both). The kernel's OpData (16-byte aligned)
# changes only where it holds pointers or where the MCU runs a CMSIS-NN kernel with its own OpData;
# the change in bytes, OpData on the MCU less on the host, after alignment:
#   OpDataConv (conv.h: 2 pointers, 80 -> 64) plus CMSIS-NN's buffer index (-> 68, 80): 0;
#   FULLY_CONNECTED: OpDataFullyConnected 72 (80) -> 60, CMSIS-NN's adds two indices, the kernel
#     sums pointer and three int32 (84, 96): +16;
#   TRANSPOSE_CONV: OpData 88 (96) with ConvParams and 2 pointers -> CMSIS-NN's 76 (80): -16;
#   SOFTMAX: SoftmaxParams 80 (5 pointers, a double) -> CMSIS-NN's 56 + 8 (64): -16;
#   CONCATENATION: ConcatenationParams' 2 pointers, 88 (96) -> 72 (80): -16;
#   BATCH_MATMUL: OpDataBatchMatmul 32 (3 pointers) -> 16, CMSIS-NN's adds output dims and an index
#     (36, 48): +16;
#   AVERAGE_POOL_2D, MAX_POOL_2D: CMSIS-NN's OpData adds a buffer index to OpDataPooling (32 -> 48): +16;
#   UNIDIRECTIONAL_SEQUENCE_LSTM: OpDataLSTM (688, no pointer) plus CMSIS-NN's cmsis_nn_lstm_params
#     (15 int32 and 4 gates of 5 pointers and 5 int32: 220) = 912: +224;
#   every other kernel's OpData holds ints only (or is absent): 0.
# Scratch buffer handles shrink from 8 to 4 bytes each (not counted: at most a few bytes an operator).
MCU_OPDATA_GROWTH = {"FULLY_CONNECTED": 16, "TRANSPOSE_CONV": -16, "SOFTMAX": -16, "CONCATENATION": -16,
                     "BATCH_MATMUL": 16, "AVERAGE_POOL_2D": 16, "MAX_POOL_2D": 16,
                     "UNIDIRECTIONAL_SEQUENCE_LSTM": 224}
NODE_AND_REGISTRATION_SHRINK = 64 - 32
# REFIT on the emulated Cortex-M4 (tinyml profile: TFLM + CMSIS-NN, 32-bit): the smallest arena
# AllocateTensors accepts for 36 models (32 random architectures of both search spaces, the four
# MLPerf Tiny models) against the estimate from the derived values: a least-squares correction in bytes,
# fixed and per operator of each builtin, that leaves at most 29 bytes of error on any of them
# (scripts/bench_cortex_m.py --report; the derived values were 200 to 1,200 bytes high, 2-12%).
MCU_ARENA_CORRECTION = {"fixed": -219, "CONV_2D": -22, "DEPTHWISE_CONV_2D": -30, "FULLY_CONNECTED": -38,
                        "ADD": -12, "MEAN": -11, "SOFTMAX": -13, "RESHAPE": -2, "AVERAGE_POOL_2D": 8,
                        "MAX_POOL_2D": 20}
_MCU_BUILTIN_OP_BYTES = {name: host - NODE_AND_REGISTRATION_SHRINK + MCU_OPDATA_GROWTH.get(name, 0)
                         + MCU_ARENA_CORRECTION.get(name, 0) for name, host in HOST_BUILTIN_OP_BYTES.items()}
# the layer graph's ops (estimate/model.py looks them up by IR name) as the builtins they are written as
_IR_BUILTINS = {"conv2d": "CONV_2D", "depthwise_conv2d": "DEPTHWISE_CONV_2D", "fully_connected": "FULLY_CONNECTED",
                "add": "ADD", "avg_pool": "AVERAGE_POOL_2D", "max_pool": "MAX_POOL_2D", "mean": "MEAN",
                "reshape": "RESHAPE", "softmax": "SOFTMAX"}
ARENA_OP_BYTES = {**{ir: _MCU_BUILTIN_OP_BYTES[builtin] for ir, builtin in _IR_BUILTINS.items()},
                  "front_SUB": 96, "front_MUL": 96, "front_ADD": 112, "front_MEAN": 96,
                  "front_RSQRT": 96, "front_QUANTIZE": 32, **_MCU_BUILTIN_OP_BYTES}
ARENA_OP_BYTES_DEFAULT = 80
# Beyond these, each kernel's own persistent data that grows with the tensors (conv and depthwise
# keep an int32 multiplier and shift per output channel: on the host a 32-channel conv's persistent
# data is exactly 128 bytes more than a 16-channel one's) and its scratch buffers are facts of the
# kernels' code, declared by each op kind in tinyml_cli/ops/ with the kernel they come from.
# MicroAllocator, SubgraphAllocations, the memory planner object, the interpreter's persistent
# TfLiteTensors for the model input and output with their quantization data (~760 bytes on the host).
ARENA_FIXED_BYTES = 512 + MCU_ARENA_CORRECTION["fixed"]
# That fixed part holds one quantized input and one quantized output. The interpreter keeps a
# persistent TfLiteTensor for every input and output of the model (micro_interpreter.cc
# AllocateTensors; TF_LITE_STATIC_MEMORY layout, core/c/common.h: 40 bytes here, 64 on the host) and,
# for a quantized one, a TfLiteAffineQuantization and its zero-point array (micro_allocator.cc
# InitializeTfLiteTensorFromFlatbuffer: 12 + 8 here, 24 + 8 on the host, the host's recorded
# "Persistent TfLiteTensor quantization data"): a model with other ends adds or saves these.
ARENA_IO_TENSOR_BYTES = 40
ARENA_IO_QUANTIZATION_BYTES = 12 + 8


# The arena on the 64-bit host build of tflite-micro's Python interpreter, with its reference kernels:
# the runtime `tinyml export` verifies on (estimate(..., build="host")). Pointers are 8 bytes, so
# the structs above that hold them grow, and reference kernels request no scratch (the head equals
# the activations' plan). Measured with RecordingMicroAllocator and the smallest arena TFLM accepts
# (scripts/bench_export.py): per-op bytes from single-op models (NodeAndRegistration 64 bytes + the
# builtin options and OpData), then a least-squares fit of the tail over 40 random architectures of
# both spaces (residual <= 23 bytes).
HOST_ARENA = {
    "ALLOCATION_INFO_BYTES": 32,
    "SCRATCH_REQUEST_BYTES": 16,
    "ARENA_EVAL_TENSOR_BYTES": 24,
    "ARENA_IO_TENSOR_BYTES": 64,
    "ARENA_IO_QUANTIZATION_BYTES": 24 + 8,
    "ARENA_OP_BYTES": {"conv2d": 168, "depthwise_conv2d": 184, "fully_connected": 176, "add": 136,
                       "avg_pool": 152, "max_pool": 128, "mean": 121, "reshape": 92, "softmax": 180,
                       # normalization fronts: the tail a front adds, less 24 bytes per tensor, on
                       # one network with and without each front and with float ends: QUANTIZE and
                       # DEQUANTIZE 64 each; SUB + MUL 248 (split evenly); the z-norm front's two
                       # MEANs, ADD and RSQRT 492 (MEAN and ADD as their int8 kernels', RSQRT the rest)
                       "front_SUB": 124, "front_MUL": 124, "front_ADD": 136, "front_MEAN": 121,
                       "front_RSQRT": 114, "front_QUANTIZE": 64,
                       # per TFLite builtin, measured on single-operator models (see above)
                       **HOST_BUILTIN_OP_BYTES},
    "ARENA_OP_BYTES_DEFAULT": 160,
    "ARENA_FIXED_BYTES": 714,
}

# --- latency -----------------------------------------------------------------------------------------
# Cycles per multiply-accumulate of int8 kernels, by core family and kernel kind ("pointwise" is a 1x1
# conv, "conv" any other conv). First estimates, to be refit on measured latencies; where they come from:
# - m7 / m4: CMSIS-NN (Lai, Suda, Chandra, "CMSIS-NN: Efficient Neural Network Kernels for Arm
#   Cortex-M CPUs", 2018): SMLAD does two 16-bit MACs a cycle, so the inner loops run at about
#   1 cycle/MAC on the dual-issue M7 and about 2 on the M4 once loads and requantization are paid.
#   MCUNet / TinyEngine (Lin et al., NeurIPS 2020) report depthwise layers at roughly twice the
#   per-MAC cost of pointwise ones under TFLM + CMSIS-NN (little weight reuse per load), and
#   end-to-end MobileNet-class models on STM32F746 / Cortex-M4 boards land at 1.5-3 cycles/MAC.
# - m0plus: no DSP extension (no SMLAD), so CMSIS-NN runs its pure-C loops: a load, a multiply and an
#   add per MAC plus loop overhead, 8-10 cycles.
# - lx7: ESP-NN's SIMD kernels on the ESP32-S3 (esp-nn README: 1x1 convs 8-14x faster than the ANSI C
#   version, depthwise ~4.5x; esp-tflite-micro's person-detection example about 55 ms at 240 MHz).
# (m4 / m7 / m33 are replaced below by what was measured on them.)
CYCLES_PER_MAC = {
    "m0plus": {"pointwise": 8.0, "conv": 9.0, "depthwise": 11.0, "depthwise_3x3": 11.0, "fully_connected": 8.0},
    "lx7": {"pointwise": 0.9, "conv": 1.3, "depthwise": 2.2, "depthwise_3x3": 2.2, "fully_connected": 1.2},
}
# Cycles per element for element-wise and reduction ops (counted on the op's input elements):
# requantizing ADD ~ 10 cycles on M4 (CMSIS-NN arm_elementwise_add_s8), pools/mean a load and add per
# input element, SOFTMAX an exp lookup per element, RESHAPE a memcpy, QUANTIZE / DEQUANTIZE at a float
# model end a float multiply, round and clamp (soft-float on M0+).
# The float front of an input normalization (arch/normalization.py) runs TFLM's reference float
# kernels: SUB and MUL against a per-channel constant take the broadcasting path, which recomputes a
# 4-D index per element (tens of cycles with an FPU), RSQRT a square root and a division, MEAN a load
# and add; without an FPU (M0+) each float operation is a soft-float call, ~5-10x slower. Estimates
# from the kernels' code, not measured on boards; they matter little (the front touches each input
# element a few times, the network tens to thousands of times).
CYCLES_PER_ELEMENT = {
    "m0plus": {"add": 24.0, "avg_pool": 6.0, "max_pool": 6.0, "mean": 6.0, "reshape": 1.0,
               "softmax": 120.0, "quantize": 60.0,
               "front_SUB": 150.0, "front_MUL": 150.0, "front_ADD": 150.0, "front_MEAN": 60.0,
               "front_RSQRT": 600.0},
    "m4": {"add": 10.0, "avg_pool": 3.0, "max_pool": 3.0, "mean": 3.0, "reshape": 0.5,
           "softmax": 60.0, "quantize": 6.0,
           "front_SUB": 30.0, "front_MUL": 30.0, "front_ADD": 30.0, "front_MEAN": 8.0, "front_RSQRT": 60.0},
    "m7": {"add": 6.0, "avg_pool": 2.0, "max_pool": 2.0, "mean": 2.0, "reshape": 0.3,
           "softmax": 40.0, "quantize": 4.0,
           "front_SUB": 20.0, "front_MUL": 20.0, "front_ADD": 20.0, "front_MEAN": 5.0, "front_RSQRT": 40.0},
    "lx7": {"add": 5.0, "avg_pool": 2.0, "max_pool": 2.0, "mean": 2.0, "reshape": 0.3,
            "softmax": 40.0, "quantize": 4.0,
            "front_SUB": 20.0, "front_MUL": 20.0, "front_ADD": 20.0, "front_MEAN": 5.0, "front_RSQRT": 40.0},
}
# Element classes of the op table (tinyml_cli/ops) beyond the layers above, per element read:
# another binary operator costs what ADD does, a clamp-style activation a load, compare and store,
# HARD_SWISH a few multiplies, a transcendental (LOGISTIC, TANH, EXP, RSQRT...) a lookup table or a
# polynomial with the requantization around it, a data move (TRANSPOSE, PAD, CONCATENATION,
# STRIDED_SLICE...) a load and a store with the index arithmetic of TFLM's reference loops.
# Estimates from the kernels' code, not measured on boards.
CYCLES_PER_ELEMENT["m33"] = dict(CYCLES_PER_ELEMENT["m4"])     # before the measured classes replace them
for _family, _scale in (("m0plus", 2.5), ("m4", 1.0), ("m7", 0.6), ("m33", 1.0), ("lx7", 0.5)):
    CYCLES_PER_ELEMENT[_family].update({
        "binary": CYCLES_PER_ELEMENT[_family]["add"], "activation": 3.0 * _scale,
        "hard_swish": 12.0 * _scale, "transcendental": 40.0 * _scale, "move": 4.0 * _scale,
        "front_QUANTIZE": CYCLES_PER_ELEMENT[_family]["quantize"]})
del _family, _scale
# Fixed cost of invoking one operator in TFLM (node dispatch, parameter setup, requantization tables).
CYCLES_PER_OP = {"m0plus": {"default": 4000.0}, "lx7": {"default": 1500.0}}
# The estimated families' MAC kernels: their per-MAC rates above cover window, output and pixel work.
CYCLES_PER_WINDOW: dict[str, dict[str, float]] = {"m0plus": {}, "lx7": {}}
CYCLES_PER_OUTPUT: dict[str, dict[str, float]] = {"m0plus": {}, "lx7": {}}
CYCLES_PER_PIXEL: dict[str, dict[str, float]] = {"m0plus": {}, "lx7": {}}

# MEASURED on the cores with the DSP extension (m4, m7, m33): the instructions TFLM + CMSIS-NN (as
# tinyml profile builds them: tflite-micro 90b983c, CMSIS-NN 4ab83cc, Debian's arm-none-eabi-gcc 12.2,
# kernels at -O2) execute per unit of work, counted exactly by a QEMU plugin on the emulated Cortex-M4
# (mps2-an386) over 1,024 operators: 32 random architectures of both search spaces and the four MLPerf
# Tiny models. Per op class, non-negative least squares with residuals weighted by instructions^-0.75
# (between relative and absolute error), the model being
# instructions = per-op + per-MAC x MACs + per-window x window + per-output x outputs + per-pixel x pixels
# (MAC kernels; window = MACs per output channel, pixels = output positions) or per-op + per-element x
# elements read (the others). Worst relative error of one operator: fully connected 0.02, add 0.02,
# reshape 0.02, mean 0.05, 3x3 depthwise 0.15, other depthwise 0.16, conv 0.22, max pool 0.27, average
# pool 0.36, pointwise 0.64 (a small one: the per-op cost favours the large), softmax 0.89 (a few
# hundred instructions). A model's total: see README (scripts/bench_cortex_m.py). Refit with:
#   PYTHONPATH=. python scripts/bench_cortex_m.py --n 32 --seed 1 --report cm.json --fit
INSTRUCTIONS_PER_OP = {"add": 676.7, "avg_pool": 1399.5, "max_pool": 699.5, "fully_connected": 456.4,
                       "mean": 1104.5, "pointwise": 2713.6, "reshape": 184.5, "softmax": 621.7, "default": 700.0}
INSTRUCTIONS_PER_MAC = {"conv": 1.595, "depthwise": 5.956, "depthwise_3x3": 7.138, "fully_connected": 1.881,
                        "pointwise": 1.659}
INSTRUCTIONS_PER_WINDOW = {"conv": 3.652, "depthwise": 40.379, "depthwise_3x3": 14.147}
INSTRUCTIONS_PER_OUTPUT = {"conv": 54.36, "depthwise": 50.03, "fully_connected": 49.39, "pointwise": 39.54}
INSTRUCTIONS_PER_PIXEL = {"conv": 423.7, "depthwise": 107.8}
INSTRUCTIONS_PER_ELEMENT = {"add": 39.68, "binary": 39.68, "avg_pool": 8.049, "max_pool": 9.874, "mean": 135.6,
                            "reshape": 0.529, "softmax": 431.2}
# Cycles per instruction. m33: FITTED to MLPerf Tiny v0.7's TFLM + CMSIS-NN latencies on the Renesas
# EK-RA6M4 (Cortex-M33, 200 MHz; KWS 50.6 ms, VWW 162.4 ms, IC 246.2 ms, AD 4.61 ms): the geometric mean
# of the published cycles over the instructions estimated above for the four models, 1.448 (the board's
# flash wait states and pipeline stalls, which QEMU does not model). Over the instructions counted on
# the emulated Cortex-M33 (mps2-an505) the four give 1.337, 1.368, 1.649, 1.575 (geometric mean 1.476).
# m4, m7: DERIVED, not fitted to a board of theirs: m33's scaled by Arm's CoreMark/MHz for each core
# (Cortex-M33 4.02, M4 3.42, M7 5.01), the same instruction stream assumed (all three run CMSIS-NN's
# DSP code paths). To be checked against published M4 / M7 measurements.
CYCLES_PER_INSTRUCTION = {"m33": 1.448, "m4": 1.448 * 4.02 / 3.42, "m7": 1.448 * 4.02 / 5.01}
for _family, _cpi in CYCLES_PER_INSTRUCTION.items():
    CYCLES_PER_MAC[_family] = {name: n * _cpi for name, n in INSTRUCTIONS_PER_MAC.items()}
    CYCLES_PER_WINDOW[_family] = {name: n * _cpi for name, n in INSTRUCTIONS_PER_WINDOW.items()}
    CYCLES_PER_OUTPUT[_family] = {name: n * _cpi for name, n in INSTRUCTIONS_PER_OUTPUT.items()}
    CYCLES_PER_PIXEL[_family] = {name: n * _cpi for name, n in INSTRUCTIONS_PER_PIXEL.items()}
    CYCLES_PER_OP[_family] = {name: n * _cpi for name, n in INSTRUCTIONS_PER_OP.items()}
    # measured element classes; the others keep the first estimates above
    CYCLES_PER_ELEMENT[_family].update({name: n * _cpi for name, n in INSTRUCTIONS_PER_ELEMENT.items()})
del _family, _cpi
# The first estimates of the families not measured (m0plus, lx7) came from the same sources as the
# m4 / m7 ones, which proved about 2x optimistic: against published MLPerf Tiny board latencies (the
# old m4 / m7 estimates were 0.44-0.68 of them) and 2-4x against the emulator on small models. Until
# a core of theirs is measured, their rates are doubled: an ESTIMATE, not a fit.
UNMEASURED_FAMILY_SCALE = 2.0
for _table in (CYCLES_PER_MAC, CYCLES_PER_ELEMENT, CYCLES_PER_OP):
    for _family in ("m0plus", "lx7"):
        _table[_family] = {name: n * UNMEASURED_FAMILY_SCALE for name, n in _table[_family].items()}
del _table, _family
# Float32 models (a .tflite that was not quantized) run the reference float kernels: with a single
# precision FPU (M4F, M7, LX7) about 3x the int8 SIMD cost, without one (M0+) soft-float, ~20x.
FLOAT_SLOWDOWN = {"m0plus": 20.0, "m4": 3.0, "m7": 3.0, "m33": 3.0, "lx7": 3.0}

# --- the tinyml C engine (runtime c) -----------------------------------------------------------------
# MEASURED with arm-none-eabi-gcc 12.2.1 -Os -mthumb, linked with --gc-sections and measured with
# arm-none-eabi-size / nm (scripts/fit_engine_flash.py, 12 random models of both spaces, seed 0).
# Per core family: each op kind's exclusive kernel code (the full link less the link without it),
# "shared" (requantization, fixed-point helpers, libgcc, memmove), "invoke" + "per_call" x layers:
# tinyml_invoke's own code (a least-squares fit; every other model run over 2 x 2 patches), "patch":
# the region copy (newlib's memcpy) of patch-based execution. The kernels: ACLE DSP on m4/m7/m33, plain C on m0plus;
# refit with the script when they change. An op kind missing here has no engine kernel.
ENGINE_FLASH = {
    "m0plus": {"invoke": 25, "per_call": 15.45, "shared": 1112, "conv2d": 360, "depthwise_conv2d": 2240,
               "fully_connected": 172, "add": 144, "avg_pool": 12, "max_pool": 12, "mean": 92, "reshape": 192,
               "softmax": 636, "patch": 212},
    "m4": {"invoke": 25, "per_call": 15.12, "shared": 1044, "conv2d": 2032, "depthwise_conv2d": 3004,
           "fully_connected": 988, "add": 144, "avg_pool": 4, "max_pool": 4, "mean": 88, "reshape": 272,
           "softmax": 596, "patch": 76},
    "m7": {"invoke": 25, "per_call": 15.12, "shared": 1028, "conv2d": 2028, "depthwise_conv2d": 3004,
           "fully_connected": 988, "add": 148, "avg_pool": 8, "max_pool": 8, "mean": 88, "reshape": 272,
           "softmax": 592, "patch": 76},
    "m33": {"invoke": 25, "per_call": 15.12, "shared": 976, "conv2d": 2028, "depthwise_conv2d": 3000,
            "fully_connected": 988, "add": 144, "avg_pool": 4, "max_pool": 4, "mean": 88, "reshape": 272,
            "softmax": 596, "patch": 76},
}
# A core family not measured (lx7) takes the m4 figures: an ESTIMATE.
ENGINE_FLASH_DEFAULT_FAMILY = "m4"
# Each layer's parameter struct in .rodata (engine/c/tinyml_kernels.h; 32-bit ints and pointers), by
# op kind, from the same script (a reshape is a plain copy: no struct; a patch's crop and place:
# tinyml_region_params). Per-channel conv and
# depthwise constants: int8 weights, int32 bias, multiplier and shift; fully connected: int8 weights
# and int32 bias (one multiplier and shift, in its struct).
ENGINE_PARAMS_BYTES = {"add": 52, "avg_pool": 52, "conv2d": 80, "depthwise_conv2d": 80, "fully_connected": 40,
                       "max_pool": 52, "mean": 24, "softmax": 20, "reshape": 0, "patch_crop": 36, "patch_place": 36}
ENGINE_PER_CHANNEL_BYTES = {"conv2d": 4 + 4 + 4, "depthwise_conv2d": 4 + 4 + 4, "fully_connected": 4}


# The engine's latency (runtime c). MEASURED: the instructions the engine's kernels (engine/c, ACLE
# DSP paths, -O2 as `tinyml profile --runtime c` builds them with Debian's arm-none-eabi-gcc 12.2)
# execute per layer, counted by the QEMU plugin on the emulated Cortex-M4 (mps2-an386), M7
# (mps2-an500) and M33 (mps2-an505) between the TINYML_LAYER_BEGIN / END hooks: 36 random
# architectures of both search spaces (seed 0; 2-D 16x16x3, 12x12x1, 40x40x3, 32x32x3 and 1-D
# inputs; every third model over 2 x 2 patches), 994 layers per core. Per kernel class
# (estimate/engine.py engine_class: a 3x3 depthwise runs the 3x3 row kernel, any other size the
# general one; patch crops and places are classes of their own), non-negative least squares weighted
# as the TFLM fit above, the terms of estimate/latency.py's op_cycles: per op, per MAC, per window
# element, per output, per pixel (the engine's depthwise: per channel, the pass of its outer loop),
# per element (depthwise: its input elements, copied into the padded plane or scratch; the other
# kinds: elements read). A term missing is 0. Worst relative error of one layer (m4): add 0.001,
# fully connected 0.04, max pool 0.27, 3x3 depthwise 0.29, patch place 0.39, conv 0.45, pointwise
# 0.47, other depthwise 0.49, patch crop 0.77, softmax 0.85, mean 0.99, average pool 1.27 (the
# worst are layers of a few hundred instructions). Held out (12 architectures of seed 1), the
# estimate's instructions per inference over the counted ones: min 0.88, median 0.98, max 1.12 on
# each core (README). The three cores run the same Thumb-2 + DSP code: their counts differ by <1%.
# Refit with (7 min 28 s on 2 shared cores; --fit-only REPORT refits saved measurements):
#   PYTHONPATH=. python scripts/fit_engine_latency.py --n 36 --holdout 12 --cores M4,M7,M33 --report r.json
# Cycles: these times CYCLES_PER_INSTRUCTION of the family (the TFLM fit's, the same cores).
ENGINE_INSTRUCTIONS = {
    "m4": {
        "op": {"add": 82.183, "avg_pool": 421.228, "conv": 0, "depthwise": 0, "depthwise_3x3": 0,
              "fully_connected": 184.644, "max_pool": 527.775, "mean": 398.917, "patch_crop": 3.085,
              "patch_place": 36.181, "pointwise": 2415.68, "reshape": 11, "softmax": 0, "default": 2415.68},
        "mac": {"conv": 1.189, "depthwise": 2.888, "depthwise_3x3": 5.029, "fully_connected": 2.164,
               "pointwise": 1.765},
        "window": {"conv": 8.445, "depthwise": 0, "fully_connected": 2.856},
        "output": {"conv": 43.815, "depthwise": 87.275, "fully_connected": 35.247, "pointwise": 31.358},
        "pixel": {"conv": 367.88, "depthwise": 244.179, "depthwise_3x3": 386.13, "pointwise": 148.389},
        "element": {"add": 35.499, "avg_pool": 20.328, "depthwise": 12.742, "depthwise_3x3": 13.463,
                   "max_pool": 20.703, "mean": 10.842, "patch_crop": 1.35, "patch_place": 0.918, "reshape": 0,
                   "softmax": 196.921},
    },
    "m7": {
        "op": {"add": 81.936, "avg_pool": 427.127, "conv": 0, "depthwise": 0, "depthwise_3x3": 0,
              "fully_connected": 194.472, "max_pool": 529.319, "mean": 398.928, "patch_crop": 2.139,
              "patch_place": 35.193, "pointwise": 2388.97, "reshape": 11, "softmax": 0, "default": 2388.97},
        "mac": {"conv": 1.187, "depthwise": 3.044, "depthwise_3x3": 5.202, "fully_connected": 2.095,
               "pointwise": 1.762},
        "window": {"conv": 8.441, "depthwise": 0, "fully_connected": 3.037},
        "output": {"conv": 44.301, "depthwise": 81.661, "fully_connected": 34.789, "pointwise": 31.483},
        "pixel": {"conv": 369.781, "depthwise": 264.996, "depthwise_3x3": 381.66, "pointwise": 149.76},
        "element": {"add": 35.998, "avg_pool": 20.334, "depthwise": 11.752, "depthwise_3x3": 13.325,
                   "max_pool": 20.741, "mean": 10.842, "patch_crop": 1.35, "patch_place": 0.917, "reshape": 0,
                   "softmax": 196.644},
    },
    "m33": {
        "op": {"add": 80.176, "avg_pool": 427.111, "conv": 0, "depthwise": 0, "depthwise_3x3": 0,
              "fully_connected": 184.771, "max_pool": 529.902, "mean": 411.663, "patch_crop": 1.112,
              "patch_place": 39.423, "pointwise": 2424.09, "reshape": 11.305, "softmax": 0, "default": 2424.09},
        "mac": {"conv": 1.19, "depthwise": 2.903, "depthwise_3x3": 4.862, "fully_connected": 2.164,
               "pointwise": 1.768},
        "window": {"conv": 8.419, "depthwise": 0, "fully_connected": 2.856},
        "output": {"conv": 44.253, "depthwise": 86.89, "fully_connected": 35.232, "pointwise": 31.705},
        "pixel": {"conv": 365.834, "depthwise": 244.963, "depthwise_3x3": 380.91, "pointwise": 144.784},
        "element": {"add": 35.499, "avg_pool": 20.336, "depthwise": 12.859, "depthwise_3x3": 14.26,
                   "max_pool": 20.741, "mean": 11.022, "patch_crop": 1.439, "patch_place": 0.943, "reshape": 0,
                   "softmax": 197.879},
    },
}
# A family with no emulated core (m0plus, lx7) runs the engine's plain-C kernels: the m4 fit's
# cycles times a scale, an ESTIMATE until measured. m0plus: 4, the ratio of the first estimates'
# cycles per MAC above (CMSIS-NN's pure-C loops on the M0+, 8-11, against its SMLAD ones on the
# M4, about 2); lx7: 2 (no DSP path: one MAC where SMLAD does two; UNMEASURED_FAMILY_SCALE).
ENGINE_DEFAULT_FAMILY = "m4"
ENGINE_UNMEASURED_SCALE = {"m0plus": 4.0, "lx7": UNMEASURED_FAMILY_SCALE}
