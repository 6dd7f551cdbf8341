/* tinyml engine kernels: see tinyml_kernels.h. Each function cites the TFLite source it follows. */
#include "tinyml_kernels.h"

#include <string.h>

#define TINYML_INT32_MIN (-2147483647 - 1)
#define TINYML_INT32_MAX 2147483647

static int32_t clamp32(int32_t x, int32_t lo, int32_t hi) {
    return x < lo ? lo : (x > hi ? hi : x);
}

/* gemmlowp SaturatingRoundingDoublingHighMul (fixedpoint.h, int32). */
static int32_t high_mul(int32_t a, int32_t b) {
    int64_t ab;
    int32_t nudge;
    if (a == b && a == TINYML_INT32_MIN) {
        return TINYML_INT32_MAX;
    }
    ab = (int64_t)a * (int64_t)b;
    nudge = ab >= 0 ? (1 << 30) : (1 - (1 << 30));
    return (int32_t)((ab + nudge) / ((int64_t)1 << 31));
}

/* gemmlowp RoundingDivideByPOT: divide by 2^exponent (0..31), rounding half away from zero. */
static int32_t divide_pot(int32_t x, int exponent) {
    const int32_t mask = (int32_t)(((int64_t)1 << exponent) - 1);
    const int32_t remainder = x & mask;
    const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

/* gemmlowp SaturatingRoundingMultiplyByPOT with a positive exponent: a saturating left shift. */
static int32_t saturating_shift_left(int32_t x, int exponent) {
    const int32_t threshold = (int32_t)(((int64_t)1 << (31 - exponent)) - 1);
    if (x > threshold) {
        return TINYML_INT32_MAX;
    }
    if (x < -threshold) {
        return TINYML_INT32_MIN;
    }
    return (int32_t)((uint32_t)x << exponent);
}

/* MultiplyByQuantizedMultiplier, double rounding (kernels/internal/common.cc). */
int32_t tinyml_requantize(int32_t x, int32_t multiplier, int32_t shift) {
    const int left = shift > 0 ? (int)shift : 0;
    const int right = shift > 0 ? 0 : (int)-shift;
    return divide_pot(high_mul((int32_t)((uint32_t)x << left), multiplier), right);
}

static int8_t finish(int32_t acc, int32_t bias, int32_t multiplier, int32_t shift, int32_t offset,
                     int32_t lo, int32_t hi) {
    return (int8_t)clamp32(tinyml_requantize(acc + bias, multiplier, shift) + offset, lo, hi);
}

/* The filter taps [start, end) of a window at ``origin`` that fall inside an axis of ``size``:
 * padding is skipped, as the reference kernels do (conv.h, depthwise_conv.h, pooling.h). */
static void clip(int origin, int k, int size, int *start, int *end) {
    *start = origin < 0 ? -origin : 0;
    *end = origin + k < size ? k : size - origin;
}

/* reference/integer_ops/conv.h ConvPerChannel (no dilation, one group). */
void tinyml_conv2d(const tinyml_conv_params *p, const int8_t *input, int8_t *output) {
    int oy, ox, oc, ky, kx, ic, ky0, ky1, kx0, kx1;
    for (oy = 0; oy < p->out_h; ++oy) {
        const int y0 = oy * p->stride_h - p->pad_h;
        clip(y0, p->k_h, p->in_h, &ky0, &ky1);
        for (ox = 0; ox < p->out_w; ++ox) {
            const int x0 = ox * p->stride_w - p->pad_w;
            clip(x0, p->k_w, p->in_w, &kx0, &kx1);
            for (oc = 0; oc < p->out_c; ++oc) {
                const int8_t *filter = p->weights + (long)oc * p->k_h * p->k_w * p->in_c;
                int32_t acc = 0;
                for (ky = ky0; ky < ky1; ++ky) {
                    for (kx = kx0; kx < kx1; ++kx) {
                        const int8_t *in = input + ((long)(y0 + ky) * p->in_w + x0 + kx) * p->in_c;
                        const int8_t *w = filter + ((long)ky * p->k_w + kx) * p->in_c;
                        for (ic = 0; ic < p->in_c; ++ic) {
                            acc += (int32_t)w[ic] * ((int32_t)in[ic] + p->in_offset);
                        }
                    }
                }
                *output++ = finish(acc, p->bias[oc], p->multiplier[oc], p->shift[oc], p->out_offset,
                                   p->act_min, p->act_max);
            }
        }
    }
}

/* One output channel of reference/integer_ops/depthwise_conv.h DepthwiseConvPerChannel
 * (multiplier 1, no dilation), reading input channel c at in[(y * in_w + x) * step]. */
static void depthwise_channel(const tinyml_conv_params *p, int c, const int8_t *in, int step,
                              int8_t *output) {
    int oy, ox, ky, kx, ky0, ky1, kx0, kx1;
    for (oy = 0; oy < p->out_h; ++oy) {
        const int y0 = oy * p->stride_h - p->pad_h;
        clip(y0, p->k_h, p->in_h, &ky0, &ky1);
        for (ox = 0; ox < p->out_w; ++ox) {
            const int x0 = ox * p->stride_w - p->pad_w;
            int32_t acc = 0;
            clip(x0, p->k_w, p->in_w, &kx0, &kx1);
            for (ky = ky0; ky < ky1; ++ky) {
                for (kx = kx0; kx < kx1; ++kx) {
                    acc += (int32_t)p->weights[((long)ky * p->k_w + kx) * p->out_c + c] *
                           ((int32_t)in[((long)(y0 + ky) * p->in_w + x0 + kx) * step] + p->in_offset);
                }
            }
            output[((long)oy * p->out_w + ox) * p->out_c + c] =
                finish(acc, p->bias[c], p->multiplier[c], p->shift[c], p->out_offset, p->act_min, p->act_max);
        }
    }
}

void tinyml_depthwise_conv2d(const tinyml_conv_params *p, const int8_t *input, int8_t *output) {
    int c;
    for (c = 0; c < p->out_c; ++c) {
        depthwise_channel(p, c, input + c, p->in_c, output);
    }
}

/* In place, channel by channel (as TinyEngine does): input channel c is copied into ``scratch``
 * (in_h x in_w bytes), then output channel c is written over it. Output pixel i of channel c lies
 * where input pixel i of channel c was, so no other channel is touched. */
void tinyml_depthwise_conv2d_in_place(const tinyml_conv_params *p, int8_t *buffer, int8_t *scratch) {
    const long pixels = (long)p->in_h * p->in_w;
    long i;
    int c;
    for (c = 0; c < p->out_c; ++c) {
        for (i = 0; i < pixels; ++i) {
            scratch[i] = buffer[i * p->in_c + c];
        }
        depthwise_channel(p, c, scratch, 1, buffer);
    }
}

/* reference/integer_ops/fully_connected.h FullyConnected (per-tensor weights, filter offset 0). */
void tinyml_fully_connected(const tinyml_fc_params *p, const int8_t *input, int8_t *output) {
    int o, i;
    for (o = 0; o < p->out_n; ++o) {
        const int8_t *w = p->weights + (long)o * p->in_n;
        int32_t acc = 0;
        for (i = 0; i < p->in_n; ++i) {
            acc += (int32_t)w[i] * ((int32_t)input[i] + p->in_offset);
        }
        output[o] = finish(acc, p->bias[o], p->multiplier, p->shift, p->out_offset, p->act_min, p->act_max);
    }
}

/* reference/integer_ops/add.h AddFunc: each input shifted left, rescaled, summed, rescaled.
 * Element i is read before it is written, so the output may be either input. */
void tinyml_add(const tinyml_add_params *p, const int8_t *input1, const int8_t *input2, int8_t *output) {
    int i;
    for (i = 0; i < p->size; ++i) {
        const int32_t a = (int32_t)((uint32_t)(p->in1_offset + input1[i]) << p->left_shift);
        const int32_t b = (int32_t)((uint32_t)(p->in2_offset + input2[i]) << p->left_shift);
        const int32_t sum = tinyml_requantize(a, p->in1_multiplier, p->in1_shift) +
                            tinyml_requantize(b, p->in2_multiplier, p->in2_shift);
        output[i] = (int8_t)clamp32(tinyml_requantize(sum, p->out_multiplier, p->out_shift) + p->out_offset,
                                    p->act_min, p->act_max);
    }
}

/* The input rows [y0, y1) and columns [x0, x1) of output (oy, ox)'s window
 * (reference/integer_ops/pooling.h). */
static void pool_window(const tinyml_pool_params *p, int oy, int ox, int *y0, int *y1, int *x0, int *x1) {
    const int ys = oy * p->stride_h - p->pad_h, xs = ox * p->stride_w - p->pad_w;
    clip(ys, p->k_h, p->in_h, y0, y1);
    clip(xs, p->k_w, p->in_w, x0, x1);
    *y0 += ys;
    *y1 += ys;
    *x0 += xs;
    *x1 += xs;
}

/* reference/integer_ops/pooling.h AveragePool (the window's sum divided rounding half away from
 * zero) or MaxPool. An output never lies after the inputs it reads, so the output may be the
 * input. */
static void pool(const tinyml_pool_params *p, const int8_t *input, int8_t *output, int average) {
    int oy, ox, c, y, x, y0, y1, x0, x1;
    for (oy = 0; oy < p->out_h; ++oy) {
        for (ox = 0; ox < p->out_w; ++ox) {
            pool_window(p, oy, ox, &y0, &y1, &x0, &x1);
            for (c = 0; c < p->c; ++c) {
                const int32_t count = (y1 - y0) * (x1 - x0);
                int32_t acc = 0, best = -128;
                for (y = y0; y < y1; ++y) {
                    for (x = x0; x < x1; ++x) {
                        const int32_t v = input[((long)y * p->in_w + x) * p->c + c];
                        acc += v;
                        best = v > best ? v : best;
                    }
                }
                if (average) {
                    best = acc > 0 ? (acc + count / 2) / count : (acc - count / 2) / count;
                }
                output[((long)oy * p->out_w + ox) * p->c + c] = (int8_t)clamp32(best, p->act_min, p->act_max);
            }
        }
    }
}

void tinyml_avg_pool(const tinyml_pool_params *p, const int8_t *input, int8_t *output) {
    pool(p, input, output, 1);
}

void tinyml_max_pool(const tinyml_pool_params *p, const int8_t *input, int8_t *output) {
    pool(p, input, output, 0);
}

/* reference/reduce.h QuantizedMeanOrSum (mean): int32 sums less the input zero point, rescaled.
 * Channel c is written after the last read of element c, so the output may be the input. */
void tinyml_mean(const tinyml_mean_params *p, const int8_t *input, int8_t *output) {
    int c, i;
    for (c = 0; c < p->c; ++c) {
        int32_t sum = 0;
        for (i = 0; i < p->count; ++i) {
            sum += input[(long)i * p->c + c];
        }
        sum -= p->in_zero_point * p->count;
        output[c] = (int8_t)clamp32(tinyml_requantize(sum, p->multiplier, p->shift) + p->out_zero_point,
                                    -128, 127);
    }
}

/* gemmlowp exp_on_interval_between_negative_one_quarter_and_0_excl (Q0.31). */
static int32_t exp_quarter(int32_t a) {
    const int32_t constant_term = 1895147668;     /* exp(-1/8) */
    const int32_t one_third = 715827883;
    const int32_t x = a + (1 << 28);
    const int32_t x2 = high_mul(x, x);
    const int32_t x3 = high_mul(x2, x);
    const int32_t x4 = high_mul(x2, x2);
    const int32_t x4_over_4 = divide_pot(x4, 2);
    const int32_t poly = divide_pot(high_mul(x4_over_4 + x3, one_third) + x2, 1);
    return constant_term + high_mul(constant_term, x + poly);
}

/* gemmlowp exp_on_negative_values for a Q5.26 input, giving Q0.31. */
static int32_t exp_negative(int32_t a) {
    static const int32_t multipliers[7] = {1672461947, 1302514674, 790015084, 290630308, 39332535,
                                           720401, 242};
    const int32_t quarter = 1 << 24;
    const int32_t mod_minus_quarter = (a & (quarter - 1)) - quarter;
    const int32_t remainder = mod_minus_quarter - a;
    int32_t result = exp_quarter(saturating_shift_left(mod_minus_quarter, 5));
    int k;
    for (k = 0; k < 7; ++k) {              /* exponents -2 .. 4: bits 24 .. 30 of the remainder */
        if (remainder & ((int32_t)1 << (24 + k))) {
            result = high_mul(result, multipliers[k]);
        }
    }
    return a == 0 ? TINYML_INT32_MAX : result;
}

/* gemmlowp one_over_one_plus_x_for_x_in_0_1 (Q0.31 in and out, Newton-Raphson in Q2.29). */
static int32_t one_over_one_plus_x(int32_t a) {
    const int32_t half_denominator = (int32_t)(((int64_t)a + TINYML_INT32_MAX + 1) / 2);
    int32_t x = 1515870810 + high_mul(half_denominator, -1010580540);
    int i;
    for (i = 0; i < 3; ++i) {
        const int32_t one_minus = (1 << 29) - high_mul(half_denominator, x);
        x = x + saturating_shift_left(high_mul(x, one_minus), 2);
    }
    return saturating_shift_left(x, 1);
}

static int leading_zeros(uint32_t x) {
    int n = 0;
    if (x == 0) {
        return 32;
    }
    while (!(x & 0x80000000u)) {
        x <<= 1;
        ++n;
    }
    return n;
}

/* reference/softmax.h Softmax (int8 in and out): fixed-point exponentials, their sum in Q12.19,
 * its reciprocal (common.h GetReciprocal). Element c is read last before it is written, so the
 * output may be the input. */
void tinyml_softmax(const tinyml_softmax_params *p, const int8_t *input, int8_t *output) {
    int row, c;
    for (row = 0; row < p->outer; ++row) {
        const int8_t *in = input + (long)row * p->depth;
        int8_t *out = output + (long)row * p->depth;
        int32_t max = -128, sum = 0, scale;
        int headroom, exponent;
        for (c = 0; c < p->depth; ++c) {
            max = in[c] > max ? in[c] : max;
        }
        for (c = 0; c < p->depth; ++c) {
            const int32_t diff = in[c] - max;
            if (diff >= p->diff_min) {
                const int32_t scaled = high_mul((int32_t)((uint32_t)diff << p->input_left_shift),
                                                p->input_multiplier);
                sum += divide_pot(exp_negative(scaled), 12);
            }
        }
        headroom = leading_zeros((uint32_t)sum);
        scale = one_over_one_plus_x((int32_t)(((uint32_t)sum << headroom) - ((uint32_t)1 << 31)));
        exponent = 12 - headroom + 31 - 8;
        for (c = 0; c < p->depth; ++c) {
            const int32_t diff = in[c] - max;
            int32_t value = -128;
            if (diff >= p->diff_min) {
                const int32_t scaled = high_mul((int32_t)((uint32_t)diff << p->input_left_shift),
                                                p->input_multiplier);
                value = divide_pot(high_mul(scale, exp_negative(scaled)), exponent) - 128;
            }
            out[c] = (int8_t)clamp32(value, -128, 127);
        }
    }
}

/* RESHAPE: the same bytes (memmove: the planner may overlap the two). */
void tinyml_copy(int size, const int8_t *input, int8_t *output) {
    if (input != output) {
        memmove(output, input, (unsigned)size);
    }
}
