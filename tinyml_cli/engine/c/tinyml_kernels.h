/* tinyml engine kernels: TFLite's reference int8 arithmetic in portable C99.
 *
 * Every kernel computes what TensorFlow Lite Micro's reference kernel computes for the same
 * quantized parameters (tensorflow/lite/kernels/internal/reference/integer_ops/), bit for bit:
 * the double-rounding MultiplyByQuantizedMultiplier, gemmlowp's fixed-point softmax.
 * Feature maps are NHWC without the batch axis; no kernel allocates or keeps state. Built for a
 * core with the DSP extension (__ARM_FEATURE_DSP: Cortex-M4, M7, M33), convolutions, depthwise
 * convolutions and fully connected layers use the ACLE intrinsics of arm_acle.h (same integer
 * results), with a few KiB of stack at most for their expanded windows; portable C elsewhere. */
#ifndef TINYML_KERNELS_H
#define TINYML_KERNELS_H

#include <stdint.h>

/* CONV_2D and DEPTHWISE_CONV_2D (depth multiplier 1): per-channel requantization. */
typedef struct {
    int in_h, in_w, in_c, out_h, out_w, out_c;
    int k_h, k_w, stride_h, stride_w, pad_h, pad_w;
    int32_t in_offset, out_offset, act_min, act_max;
    const int8_t *weights;
    const int32_t *bias, *multiplier, *shift;
} tinyml_conv_params;

/* FULLY_CONNECTED with per-tensor weights. */
typedef struct {
    int in_n, out_n;
    int32_t in_offset, out_offset, act_min, act_max, multiplier, shift;
    const int8_t *weights;
    const int32_t *bias;
} tinyml_fc_params;

/* ADD of two equal-shape tensors. */
typedef struct {
    int size, left_shift;
    int32_t in1_offset, in2_offset, out_offset, act_min, act_max;
    int32_t in1_multiplier, in1_shift, in2_multiplier, in2_shift, out_multiplier, out_shift;
} tinyml_add_params;

/* AVERAGE_POOL_2D and MAX_POOL_2D. */
typedef struct {
    int in_h, in_w, c, out_h, out_w, k_h, k_w, stride_h, stride_w, pad_h, pad_w;
    int32_t act_min, act_max;
} tinyml_pool_params;

/* MEAN over height and width: the 1/count factor already folded into multiplier and shift. */
typedef struct {
    int count, c;
    int32_t in_zero_point, out_zero_point, multiplier, shift;
} tinyml_mean_params;

/* SOFTMAX int8 -> int8 (output scale 1/256, zero point -128) over the last axis. */
typedef struct {
    int outer, depth;
    int32_t input_multiplier, input_left_shift, diff_min;
} tinyml_softmax_params;

int32_t tinyml_requantize(int32_t x, int32_t multiplier, int32_t shift);
void tinyml_conv2d(const tinyml_conv_params *p, const int8_t *input, int8_t *output);
void tinyml_depthwise_conv2d(const tinyml_conv_params *p, const int8_t *input, int8_t *output);
/* The output over the input, with in_h x in_w bytes of scratch. */
void tinyml_depthwise_conv2d_in_place(const tinyml_conv_params *p, int8_t *buffer, int8_t *scratch);
void tinyml_fully_connected(const tinyml_fc_params *p, const int8_t *input, int8_t *output);
void tinyml_add(const tinyml_add_params *p, const int8_t *input1, const int8_t *input2, int8_t *output);
void tinyml_avg_pool(const tinyml_pool_params *p, const int8_t *input, int8_t *output);
void tinyml_max_pool(const tinyml_pool_params *p, const int8_t *input, int8_t *output);
void tinyml_mean(const tinyml_mean_params *p, const int8_t *input, int8_t *output);
void tinyml_softmax(const tinyml_softmax_params *p, const int8_t *input, int8_t *output);
void tinyml_copy(int size, const int8_t *input, int8_t *output);

#endif /* TINYML_KERNELS_H */
