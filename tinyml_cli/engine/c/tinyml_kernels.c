/* tinyml engine kernels: see tinyml_kernels.h. Each function cites the TFLite source it follows. */
#include "tinyml_kernels.h"

#include <string.h>

#if defined(__GNUC__)
#define TINYML_NOINLINE __attribute__((noinline))
#else
#define TINYML_NOINLINE
#endif

#if defined(__ARM_FEATURE_DSP) && defined(__ARM_FEATURE_SIMD32)
#include <arm_acle.h>
#define TINYML_SIMD 1
#else
#define TINYML_SIMD 0
#endif

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
    const int32_t mask = (int32_t)((1u << exponent) - 1u);
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

/* MultiplyByQuantizedMultiplier, double rounding (kernels/internal/common.cc). The multiplier is
 * never INT32_MIN (it lies in [0, 2^31)), so SaturatingRoundingDoublingHighMul never saturates,
 * and its nudged division rounding toward zero equals floor((ab + 2^30) / 2^31) for every
 * product ab (for ab = -(2^31 q + r): both give -(q + [r > 2^30])), one 64-bit multiply-add and a
 * shift, as CMSIS-NN's arm_nn_doubling_high_mult_no_sat. */
static int32_t requantize(int32_t x, int32_t multiplier, int32_t shift) {
    const int left = shift > 0 ? (int)shift : 0;
    const int right = shift > 0 ? 0 : (int)-shift;
    const int64_t ab = (int64_t)(int32_t)((uint32_t)x << left) * multiplier;
    return divide_pot((int32_t)((ab + ((int64_t)1 << 30)) >> 31), right);
}

/* requantize() with its shifts and rounding mask worked out once, for a loop over one channel. */
typedef struct {
    int32_t multiplier, left, right, mask, threshold;
} tinyml_rescale;

static tinyml_rescale rescale_of(int32_t multiplier, int32_t shift) {
    tinyml_rescale r;
    r.multiplier = multiplier;
    r.left = shift > 0 ? shift : 0;
    r.right = shift > 0 ? 0 : -shift;
    r.mask = (int32_t)((1u << r.right) - 1u);
    r.threshold = r.mask >> 1;
    return r;
}

static int32_t rescale(const tinyml_rescale *r, int32_t x) {
    const int64_t ab = (int64_t)(int32_t)((uint32_t)x << r->left) * r->multiplier;
    const int32_t high = (int32_t)((ab + ((int64_t)1 << 30)) >> 31);
    return (high >> r->right) + ((high & r->mask) > r->threshold + (high < 0 ? 1 : 0) ? 1 : 0);
}

int32_t tinyml_requantize(int32_t x, int32_t multiplier, int32_t shift) {
    return requantize(x, multiplier, shift);
}

static int8_t finish(int32_t acc, int32_t bias, int32_t multiplier, int32_t shift, int32_t offset,
                     int32_t lo, int32_t hi) {
    return (int8_t)clamp32(requantize(acc + bias, multiplier, shift) + offset, lo, hi);
}

/* The filter taps [start, end) of a window at ``origin`` that fall inside an axis of ``size``:
 * padding is skipped, as the reference kernels do (conv.h, depthwise_conv.h, pooling.h). */
static void clip(int origin, int k, int size, int *start, int *end) {
    *start = origin < 0 ? -origin : 0;
    *end = origin + k < size ? k : size - origin;
}

#if TINYML_SIMD
/* Cortex-M4/M7 (the DSP extension): int8 dot products two multiply-accumulates at a time with the
 * ACLE intrinsics __sxtb16 / __sxtab16 (two bytes sign-extended into halfwords, the input offset
 * added) and __smlad (two 16x16 products added to an accumulator). Integer sums are exact, so the
 * results are those of the plain C kernels, bit for bit.
 *
 * A convolution expands the windows of P output pixels (4, or 2 for large windows) into a column
 * of 32-bit words on the stack: values with the offset added (padding: 0), as halfword pairs.
 * Each group of four values k..k+3 of a window is two words, (k, k+2) and (k+1, k+3), which
 * match a filter word split by __sxtb16 into its bytes (0, 2) and (1, 3); the P windows' groups
 * follow one another (2P words per group). The last n % 4 values take a word each, windows in
 * halfwords (P = 2: (a, b); P = 4: two words (a, b), (c, d)). Every output channel then reads
 * the column once. */
#define TINYML_COLUMN_MAX 4096          /* 16-bit values of the P windows on the stack, at most */

static int32_t load32(const int8_t *p) {
    int32_t v;
    memcpy(&v, p, 4);                   /* one LDR: M4/M7 load unaligned words */
    return v;
}

static int32_t ror8(int32_t x) {
    return (int32_t)(((uint32_t)x >> 8) | ((uint32_t)x << 24));
}

/* One 16-bit value into half ``half`` of a column word. */
static void set_half(int32_t *word, int half, int32_t value) {
    const uint32_t v = (uint32_t)value & 0xffffu, old = (uint32_t)*word;
    *word = (int32_t)(half ? (old & 0xffffu) | (v << 16) : (old & 0xffff0000u) | v);
}

/* ``count`` bytes (a multiple of 4) expanded, offset added, into column words ``group`` apart. */
static void expand_words(const int8_t *in, int count, int32_t offset2, int32_t *word, int group) {
    int i;
    for (i = 0; i < count; i += 4, word += group) {
        const int32_t v = load32(in + i);
        word[0] = __sxtab16(offset2, v);
        word[1] = __sxtab16(offset2, ror8(v));
    }
}

/* Window ``which`` of P: the output pixel whose window's corner is (y0, x0), flattened as the
 * filter is ([ky][kx][ic]). A window inside the input with whole words per row is expanded from
 * the input; any other is first gathered into ``raw`` (n bytes), padding as the input's zero
 * point (0 once the offset is added). */
static void window_column(const tinyml_conv_params *p, const int8_t *input, int y0, int x0, int which,
                          int pixels, int32_t *col, int8_t *raw) {
    const int in_c = p->in_c, k_w = p->k_w, row = k_w * in_c, n = p->k_h * row, whole = n & ~3;
    const int group = 2 * pixels;
    const int32_t offset2 = (int32_t)(((uint32_t)p->in_offset & 0xffffu) * 0x10001u);
    const int8_t zero_point = (int8_t)-p->in_offset;
    int ky, kx, j;
    if (y0 >= 0 && y0 + p->k_h <= p->in_h && x0 >= 0 && x0 + k_w <= p->in_w && (row & 3) == 0) {
        for (ky = 0; ky < p->k_h; ++ky) {
            expand_words(input + ((long)(y0 + ky) * p->in_w + x0) * in_c, row, offset2,
                         col + (ky * row / 4) * group + 2 * which, group);
        }
        return;
    }
    for (ky = 0, j = 0; ky < p->k_h; ++ky) {
        const int y = y0 + ky;
        for (kx = 0; kx < k_w; ++kx, j += in_c) {
            const int x = x0 + kx;
            if (y >= 0 && y < p->in_h && x >= 0 && x < p->in_w) {
                memcpy(raw + j, input + ((long)y * p->in_w + x) * in_c, (size_t)in_c);
            } else {
                memset(raw + j, zero_point, (size_t)in_c);
            }
        }
    }
    expand_words(raw, whole, offset2, col + 2 * which, group);
    for (j = whole; j < n; ++j) {
        set_half(col + (whole / 4) * group + (j - whole) * (pixels / 2) + which / 2, which & 1,
                 raw[j] + p->in_offset);
    }
}

static int8_t output_of(int32_t acc, const tinyml_rescale *r, int32_t offset, int32_t lo, int32_t hi) {
    return (int8_t)clamp32(rescale(r, acc) + offset, lo, hi);
}

/* Four output pixels (outputs out[0..3]), every output channel, one at a time. Not inlined: the
 * loop wants every register, the caller's frame (its variable-length column) would take one. */
TINYML_NOINLINE static void conv_quad(const tinyml_conv_params *p, const int32_t *column, int n, int8_t **out) {
    const int out_c = p->out_c, whole = n & ~3;
    const int32_t out_offset = p->out_offset, lo = p->act_min, hi = p->act_max;
    const int8_t *w = p->weights;
    int oc;
    for (oc = 0; oc < out_c; ++oc) {
        const int8_t *end = w + whole;
        const int32_t *col = column;
        const int32_t bias = p->bias[oc];
        tinyml_rescale r;
        int32_t s0 = bias, s1 = bias, s2 = bias, s3 = bias;
        while (w < end) {
            const int32_t v = load32(w);
            const int32_t even = __sxtb16(v), odd = __sxtb16(ror8(v));
            s0 = __smlad(col[1], odd, __smlad(col[0], even, s0));
            s1 = __smlad(col[3], odd, __smlad(col[2], even, s1));
            s2 = __smlad(col[5], odd, __smlad(col[4], even, s2));
            s3 = __smlad(col[7], odd, __smlad(col[6], even, s3));
            w += 4;
            col += 8;
        }
        for (end += n & 3; w < end; ++w, col += 2) {
            s0 = __smlabb(col[0], *w, s0);
            s1 = __smlatb(col[0], *w, s1);
            s2 = __smlabb(col[1], *w, s2);
            s3 = __smlatb(col[1], *w, s3);
        }
        r = rescale_of(p->multiplier[oc], p->shift[oc]);
        out[0][oc] = output_of(s0, &r, out_offset, lo, hi);
        out[1][oc] = output_of(s1, &r, out_offset, lo, hi);
        out[2][oc] = output_of(s2, &r, out_offset, lo, hi);
        out[3][oc] = output_of(s3, &r, out_offset, lo, hi);
    }
}

/* The same for two output pixels, two output channels at a time. */
TINYML_NOINLINE static void conv_pair(const tinyml_conv_params *p, const int32_t *column, int n, int8_t **out) {
    const int out_c = p->out_c, whole = n & ~3;
    const int32_t out_offset = p->out_offset, lo = p->act_min, hi = p->act_max;
    const int8_t *filter = p->weights;
    int oc;
    for (oc = 0; oc < out_c; oc += 2, filter += 2 * n) {
        const int two = oc + 1 < out_c;
        const int8_t *w0 = filter, *w1 = two ? filter + n : filter, *end = filter + whole;
        const int32_t *col = column;
        tinyml_rescale r;
        int32_t s00 = p->bias[oc], s01 = s00, s10 = p->bias[two ? oc + 1 : oc], s11 = s10;
        while (w0 < end) {
            const int32_t v0 = load32(w0), v1 = load32(w1);
            const int32_t w0e = __sxtb16(v0), w0o = __sxtb16(ror8(v0));
            const int32_t w1e = __sxtb16(v1), w1o = __sxtb16(ror8(v1));
            s00 = __smlad(col[1], w0o, __smlad(col[0], w0e, s00));
            s10 = __smlad(col[1], w1o, __smlad(col[0], w1e, s10));
            s01 = __smlad(col[3], w0o, __smlad(col[2], w0e, s01));
            s11 = __smlad(col[3], w1o, __smlad(col[2], w1e, s11));
            w0 += 4;
            w1 += 4;
            col += 4;
        }
        for (end += n & 3; w0 < end; ++w0, ++w1, ++col) {
            s00 = __smlabb(col[0], *w0, s00);
            s01 = __smlatb(col[0], *w0, s01);
            s10 = __smlabb(col[0], *w1, s10);
            s11 = __smlatb(col[0], *w1, s11);
        }
        r = rescale_of(p->multiplier[oc], p->shift[oc]);
        out[0][oc] = output_of(s00, &r, out_offset, lo, hi);
        out[1][oc] = output_of(s01, &r, out_offset, lo, hi);
        if (two) {
            r = rescale_of(p->multiplier[oc + 1], p->shift[oc + 1]);
            out[0][oc + 1] = output_of(s10, &r, out_offset, lo, hi);
            out[1][oc + 1] = output_of(s11, &r, out_offset, lo, hi);
        }
    }
}

/* Every output pixel, ``pixels`` (4 or 2) at a time (the last repeated to fill the last group). */
static void conv2d_simd(const tinyml_conv_params *p, const int8_t *input, int8_t *output, int pixels, int32_t *col,
                        int8_t *raw) {
    const int n = p->k_h * p->k_w * p->in_c, count = p->out_h * p->out_w;
    int i, k;
    for (i = 0; i < count; i += pixels) {
        int8_t *out[4];
        if (count - i <= 2) {            /* the last one or two pixels: a pair, not a padded quad */
            pixels = 2;
        }
        for (k = 0; k < pixels; ++k) {
            const int j = i + k < count ? i + k : count - 1;
            window_column(p, input, (j / p->out_w) * p->stride_h - p->pad_h, (j % p->out_w) * p->stride_w - p->pad_w,
                          k, pixels, col, raw);
            out[k] = output + (long)j * p->out_c;
        }
        if (pixels == 4) {
            conv_quad(p, col, n, out);
        } else {
            conv_pair(p, col, n, out);
        }
    }
}
#endif

/* reference/integer_ops/conv.h ConvPerChannel (no dilation, one group). */
static void conv2d_plain(const tinyml_conv_params *p, const int8_t *input, int8_t *output) {
    const int in_w = p->in_w, in_c = p->in_c, k_w = p->k_w, out_c = p->out_c;
    const int32_t in_offset = p->in_offset;
    const long filter_size = (long)p->k_h * k_w * in_c;
    int oy, ox, oc, ky, ic, ky0, ky1, kx0, kx1;
    for (oy = 0; oy < p->out_h; ++oy) {
        const int y0 = oy * p->stride_h - p->pad_h;
        clip(y0, p->k_h, p->in_h, &ky0, &ky1);
        for (ox = 0; ox < p->out_w; ++ox) {
            const int x0 = ox * p->stride_w - p->pad_w;
            clip(x0, k_w, in_w, &kx0, &kx1);
            for (oc = 0; oc < out_c; ++oc) {
                const int8_t *filter = p->weights + oc * filter_size;
                int32_t acc = 0;
                for (ky = ky0; ky < ky1; ++ky) {
                    /* the taps kx0 .. kx1 of a row are contiguous in the input and the filter */
                    const int8_t *in = input + ((long)(y0 + ky) * in_w + x0 + kx0) * in_c;
                    const int8_t *w = filter + ((long)ky * k_w + kx0) * in_c;
                    const int n = (kx1 - kx0) * in_c;
                    for (ic = 0; ic < n; ++ic) {
                        acc += (int32_t)w[ic] * ((int32_t)in[ic] + in_offset);
                    }
                }
                *output++ = finish(acc, p->bias[oc], p->multiplier[oc], p->shift[oc], p->out_offset,
                                   p->act_min, p->act_max);
            }
        }
    }
}

void tinyml_conv2d(const tinyml_conv_params *p, const int8_t *input, int8_t *output) {
#if TINYML_SIMD
    const int n = p->k_h * p->k_w * p->in_c, pixels = 4 * n <= TINYML_COLUMN_MAX ? 4 : 2;
    if (pixels * n <= TINYML_COLUMN_MAX) {
        int32_t col[(pixels * n + 1) / 2];
        int8_t raw[n];
        conv2d_simd(p, input, output, pixels, col, raw);
        return;
    }
#endif
    conv2d_plain(p, input, output);
}

#if TINYML_SIMD
/* Two outputs side by side of a 3x3 depthwise convolution with stride 1: one row of their windows
 * (bytes r0 r1 r2 r3) times (w0, w1, w2), w02 holding w0 and w2 as halfwords:
 * a0 += w0 r0 + w2 r2 + w1 r1, a1 += w0 r1 + w2 r3 + w1 r2. */
static void depthwise_row2(const int8_t *row, int32_t w02, int32_t w1, int32_t *a0, int32_t *a1) {
    const int32_t v = load32(row);
    const int32_t even = __sxtb16(v), odd = __sxtb16(ror8(v));     /* (r0, r2), (r1, r3) */
    *a0 = __smlabb(odd, w1, __smlad(even, w02, *a0));
    *a1 = __smlatb(even, w1, __smlad(odd, w02, *a1));
}

/* The same with stride 2 (bytes r0 .. r4): a0 += w0 r0 + w1 r1 + w2 r2, a1 += w0 r2 + w1 r3 + w2 r4. */
static void depthwise_row2_stride2(const int8_t *row, const int32_t *w, int32_t *a0, int32_t *a1) {
    const int32_t v = load32(row);
    const int32_t even = __sxtb16(v), odd = __sxtb16(ror8(v));     /* (r0, r2), (r1, r3) */
    const int32_t w02 = (int32_t)(((uint32_t)w[0] & 0xffffu) | ((uint32_t)w[2] << 16));
    *a0 = __smlabb(odd, w[1], __smlad(even, w02, *a0));
    *a1 = __smlatb(odd, w[1], __smlatb(even, w[0], *a1)) + w[2] * row[4];
}
#endif

/* ``count`` outputs of one row of a 3x3 depthwise convolution on a channel plane (step 1) whose
 * windows lie inside the input: the first at ``row`` (its window's top left), each next
 * ``stride`` bytes on, written ``out_step`` bytes apart. ``base``: bias + offset x sum of weights. */
TINYML_NOINLINE static void depthwise_3x3_row(const int8_t *row, int in_w, int count, int stride,
                                                        const int32_t *w, int32_t base, const tinyml_rescale *r,
                                                        const int32_t *clamp, int8_t *out, int out_step) {
    const int32_t lo = clamp[0], hi = clamp[1], out_offset = clamp[2];
    int i = 0;
#if TINYML_SIMD
    if (stride == 1) {
        const int32_t w02a = (int32_t)(((uint32_t)w[0] & 0xffffu) | ((uint32_t)w[2] << 16)), w1a = w[1];
        const int32_t w02b = (int32_t)(((uint32_t)w[3] & 0xffffu) | ((uint32_t)w[5] << 16)), w1b = w[4];
        const int32_t w02c = (int32_t)(((uint32_t)w[6] & 0xffffu) | ((uint32_t)w[8] << 16)), w1c = w[7];
        for (; i + 2 <= count; i += 2, row += 2, out += 2 * out_step) {
            int32_t a0 = base, a1 = base;
            depthwise_row2(row, w02a, w1a, &a0, &a1);
            depthwise_row2(row + in_w, w02b, w1b, &a0, &a1);
            depthwise_row2(row + 2 * in_w, w02c, w1c, &a0, &a1);
            out[0] = (int8_t)clamp32(rescale(r, a0) + out_offset, lo, hi);
            out[out_step] = (int8_t)clamp32(rescale(r, a1) + out_offset, lo, hi);
        }
    }
    if (stride == 2) {
        for (; i + 2 <= count; i += 2, row += 4, out += 2 * out_step) {
            int32_t a0 = base, a1 = base;
            depthwise_row2_stride2(row, w, &a0, &a1);
            depthwise_row2_stride2(row + in_w, w + 3, &a0, &a1);
            depthwise_row2_stride2(row + 2 * in_w, w + 6, &a0, &a1);
            out[0] = (int8_t)clamp32(rescale(r, a0) + out_offset, lo, hi);
            out[out_step] = (int8_t)clamp32(rescale(r, a1) + out_offset, lo, hi);
        }
    }
#endif
    for (; i < count; ++i, row += stride, out += out_step) {
        const int8_t *r1 = row + in_w, *r2 = r1 + in_w;
        const int32_t acc = base + w[0] * row[0] + w[1] * row[1] + w[2] * row[2] + w[3] * r1[0] + w[4] * r1[1] +
                            w[5] * r1[2] + w[6] * r2[0] + w[7] * r2[1] + w[8] * r2[2];
        *out = (int8_t)clamp32(rescale(r, acc) + out_offset, lo, hi);
    }
}

/* One output channel of reference/integer_ops/depthwise_conv.h DepthwiseConvPerChannel
 * (multiplier 1, no dilation), reading input channel c at in[(y * in_w + x) * step]. Inside the
 * input the offset is added once per output (sum of w * (x + offset) = sum of w * x + offset * sum
 * of w), the taps read from a copy on the stack. */
#define TINYML_DEPTHWISE_TAPS 49

static void depthwise_channel(const tinyml_conv_params *p, int c, const int8_t *in, int step,
                              int8_t *output) {
    const int k_h = p->k_h, k_w = p->k_w, in_w = p->in_w, out_w = p->out_w, out_c = p->out_c, taps = k_h * k_w;
    const int stride_w = p->stride_w;
    const int32_t in_offset = p->in_offset, bias = p->bias[c];
    const int32_t out_offset = p->out_offset, act_min = p->act_min, act_max = p->act_max;
    const tinyml_rescale r = rescale_of(p->multiplier[c], p->shift[c]);
    const long row_step = (long)in_w * step;
    const int32_t clamp[3] = {p->act_min, p->act_max, p->out_offset};
    int32_t w[TINYML_DEPTHWISE_TAPS], weight_sum = 0, inside_base;
    int oy, ox, ky, kx, ky0, ky1, kx0, kx1, t, ox_end;
    for (t = 0; t < taps; ++t) {
        w[t] = p->weights[(long)t * out_c + c];
        weight_sum += w[t];
    }
    inside_base = bias + in_offset * weight_sum;
    /* the outputs of a row whose windows end inside it: ox < ox_end */
    ox_end = p->pad_w + in_w - k_w >= 0 ? (p->pad_w + in_w - k_w) / stride_w + 1 : 0;
    ox_end = ox_end < out_w ? ox_end : out_w;
    for (oy = 0; oy < p->out_h; ++oy) {
        const int y0 = oy * p->stride_h - p->pad_h;
        int8_t *out = output + (long)oy * out_w * out_c + c;
        clip(y0, k_h, p->in_h, &ky0, &ky1);
        for (ox = 0; ox < out_w; ++ox, out += out_c) {
            const int x0 = ox * stride_w - p->pad_w;
            if (k_h == 3 && k_w == 3 && step == 1 && ky0 == 0 && ky1 == 3 && x0 >= 0 && x0 + 3 <= in_w) {
                /* the outputs from here whose windows lie inside the row, in one go */
                const int count = ox_end - ox;
                depthwise_3x3_row(in + (long)y0 * in_w + x0, in_w, count, stride_w, w, inside_base, &r, clamp, out,
                                  out_c);
                ox += count - 1;
                out += (long)(count - 1) * out_c;
                continue;
            }
            const int8_t *corner = in + ((long)y0 * in_w + x0) * step;
            int32_t acc = 0;
            clip(x0, k_w, in_w, &kx0, &kx1);
            if (ky0 == 0 && ky1 == k_h && kx0 == 0 && kx1 == k_w) {
                if (k_h == 3 && k_w == 3) {
                    const int8_t *r0 = corner, *r1 = r0 + row_step, *r2 = r1 + row_step;
                    acc = w[0] * r0[0] + w[1] * r0[step] + w[2] * r0[2 * step] +
                          w[3] * r1[0] + w[4] * r1[step] + w[5] * r1[2 * step] +
                          w[6] * r2[0] + w[7] * r2[step] + w[8] * r2[2 * step];
                } else {
                    const int8_t *row = corner;
                    for (ky = 0, t = 0; ky < k_h; ++ky, row += row_step) {
                        for (kx = 0; kx < k_w; ++kx, ++t) {
                            acc += w[t] * row[(long)kx * step];
                        }
                    }
                }
                acc += inside_base;
            } else {
                for (ky = ky0; ky < ky1; ++ky) {
                    for (kx = kx0; kx < kx1; ++kx) {
                        acc += w[ky * k_w + kx] * ((int32_t)corner[(long)ky * row_step + (long)kx * step] + in_offset);
                    }
                }
                acc += bias;
            }
            *out = (int8_t)clamp32(rescale(&r, acc) + out_offset, act_min, act_max);
        }
    }
}

/* reference depthwise for kernels of more than TINYML_DEPTHWISE_TAPS taps */
static void depthwise_channel_large(const tinyml_conv_params *p, int c, const int8_t *in, int step,
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

static void depthwise_any(const tinyml_conv_params *p, int c, const int8_t *in, int step, int8_t *output) {
    if (p->k_h * p->k_w <= TINYML_DEPTHWISE_TAPS) {
        depthwise_channel(p, c, in, step, output);
    } else {
        depthwise_channel_large(p, c, in, step, output);
    }
}

/* A small plane of a 3x3 depthwise convolution: channel c copied onto the stack with its padding
 * (the input's zero point, 0 once the offset is added), so that every window lies inside. */
#define TINYML_PADDED_PLANE_MAX 1024     /* bytes of stack, at most */

/* Window width the plane holds: 3 for 3x3; with the DSP extension, other kernels read whole words
 * per window row (k_w rounded up to 4, the extra taps weighted 0). */
static int plane_k_w(const tinyml_conv_params *p) {
    return p->k_h == 3 && p->k_w == 3 ? 3 : (p->k_w + 3) & ~3;
}

static int padded_width(const tinyml_conv_params *p) {
    const int need = (p->out_w - 1) * p->stride_w + plane_k_w(p);
    return need > p->in_w + p->pad_w ? need : p->in_w + p->pad_w;
}

static int padded_height(const tinyml_conv_params *p) {
    const int need = (p->out_h - 1) * p->stride_h + p->k_h;
    return need > p->in_h + p->pad_h ? need : p->in_h + p->pad_h;
}

/* Another kernel takes the words path when its window (k_h rows of whole words) is at most four
 * times the taps of a window inside the input: on planes smaller than the kernel, most taps are
 * padding, and the clipped windows of depthwise_channel are cheaper. */
static int words_pay(const tinyml_conv_params *p) {
    const int h = p->k_h < p->in_h ? p->k_h : p->in_h, w = p->k_w < p->in_w ? p->k_w : p->in_w;
    return p->k_h * p->k_w > 1 && p->k_h * p->k_w <= TINYML_DEPTHWISE_TAPS &&
           (long)p->k_h * plane_k_w(p) <= 4L * h * w;
}

static int plane_fits(const tinyml_conv_params *p) {
    const int shape = (p->k_h == 3 && p->k_w == 3) || (TINYML_SIMD && words_pay(p));
    return shape && (long)padded_width(p) * padded_height(p) <= TINYML_PADDED_PLANE_MAX;
}

#if TINYML_SIMD
/* One window: ``k_h`` rows ``pitch`` apart, ``groups`` words each (inlined with constant groups). */
static inline int32_t depthwise_words(const int8_t *line, int pitch, int k_h, int groups, const int32_t *even,
                                      const int32_t *odd, int32_t acc) {
    int ky, g;
    for (ky = 0; ky < k_h; ++ky, line += pitch, even += groups, odd += groups) {
        for (g = 0; g < groups; ++g) {
            const int32_t v = load32(line + 4 * g);
            acc = __smlad(__sxtb16(ror8(v)), odd[g], __smlad(__sxtb16(v), even[g], acc));
        }
    }
    return acc;
}

/* One row of outputs of any other kernel on a padded plane: each window row taken a word (four
 * taps) at a time, its bytes (0, 2) and (1, 3) against the weight pairs ``even`` / ``odd``
 * (``groups`` words per window row, taps past k_w weighted 0). */
TINYML_NOINLINE static void depthwise_words_row(const int8_t *row, int pitch, int count, int stride, int k_h,
                                                int groups, const int32_t *even, const int32_t *odd, int32_t base,
                                                const tinyml_rescale *r, const int32_t *clamp, int8_t *out,
                                                int out_step) {
    const int32_t lo = clamp[0], hi = clamp[1], out_offset = clamp[2];
    int i;
    for (i = 0; i < count; ++i, row += stride, out += out_step) {
        /* groups 1 and 2 (k_w up to 8) spelt out, so that the window row's words stay in registers */
        const int32_t acc = groups == 1   ? depthwise_words(row, pitch, k_h, 1, even, odd, base)
                            : groups == 2 ? depthwise_words(row, pitch, k_h, 2, even, odd, base)
                                          : depthwise_words(row, pitch, k_h, groups, even, odd, base);
        *out = (int8_t)clamp32(rescale(r, acc) + out_offset, lo, hi);
    }
}

/* Channel c of a kernel other than 3x3 on its padded plane: weights packed into halfword pairs. */
static void depthwise_padded_words(const tinyml_conv_params *p, int c, const int8_t *plane, int pitch,
                                   int8_t *output) {
    const int groups = (p->k_w + 3) / 4, out_c = p->out_c;
    const int32_t clamp[3] = {p->act_min, p->act_max, p->out_offset};
    const tinyml_rescale r = rescale_of(p->multiplier[c], p->shift[c]);
    int32_t even[TINYML_DEPTHWISE_TAPS], odd[TINYML_DEPTHWISE_TAPS], base = p->bias[c];
    int ky, kx, y;
    for (ky = 0; ky < p->k_h; ++ky) {
        for (kx = 0; kx < 4 * groups; ++kx) {
            const int32_t w = kx < p->k_w ? p->weights[((long)ky * p->k_w + kx) * out_c + c] : 0;
            int32_t *pair = (kx & 1 ? odd : even) + ky * groups + kx / 4;
            base += p->in_offset * w;
            *pair = kx & 2 ? (int32_t)(((uint32_t)*pair & 0xffffu) | ((uint32_t)w << 16)) : (w & 0xffff);
        }
    }
    for (y = 0; y < p->out_h; ++y) {
        depthwise_words_row(plane + (long)y * p->stride_h * pitch, pitch, p->out_w, p->stride_w, p->k_h, groups,
                            even, odd, base, &r, clamp, output + (long)y * p->out_w * out_c + c, out_c);
    }
}
#endif

static void depthwise_padded(const tinyml_conv_params *p, int c, const int8_t *in, int step, int8_t *output,
                             int8_t *plane) {
    const int pitch = padded_width(p), out_c = p->out_c;
    const int32_t clamp[3] = {p->act_min, p->act_max, p->out_offset};
    const tinyml_rescale r = rescale_of(p->multiplier[c], p->shift[c]);
    int32_t w[9], base = p->bias[c];
    int y, x, t;
    memset(plane, (int8_t)-p->in_offset, (size_t)pitch * (size_t)padded_height(p));
    for (y = 0; y < p->in_h; ++y) {
        int8_t *to = plane + (long)(y + p->pad_h) * pitch + p->pad_w;
        const int8_t *from = in + (long)y * p->in_w * step;
        for (x = 0; x < p->in_w; ++x, from += step) {
            to[x] = *from;
        }
    }
#if TINYML_SIMD
    if (!(p->k_h == 3 && p->k_w == 3)) {
        depthwise_padded_words(p, c, plane, pitch, output);
        return;
    }
#endif
    for (t = 0; t < 9; ++t) {
        w[t] = p->weights[(long)t * out_c + c];
        base += p->in_offset * w[t];
    }
    for (y = 0; y < p->out_h; ++y) {
        depthwise_3x3_row(plane + (long)y * p->stride_h * pitch, pitch, p->out_w, p->stride_w, w, base, &r, clamp,
                          output + (long)y * p->out_w * out_c + c, out_c);
    }
}

void tinyml_depthwise_conv2d(const tinyml_conv_params *p, const int8_t *input, int8_t *output) {
    int c;
    if (plane_fits(p)) {
        int8_t plane[padded_width(p) * padded_height(p)];
        for (c = 0; c < p->out_c; ++c) {
            depthwise_padded(p, c, input + c, p->in_c, output, plane);
        }
        return;
    }
    for (c = 0; c < p->out_c; ++c) {
        depthwise_any(p, c, input + c, p->in_c, output);
    }
}

/* In place, channel by channel (as TinyEngine does): input channel c is copied into ``scratch``
 * (in_h x in_w bytes), then output channel c is written over it. Output pixel i of channel c lies
 * where input pixel i of channel c was, so no other channel is touched. */
void tinyml_depthwise_conv2d_in_place(const tinyml_conv_params *p, int8_t *buffer, int8_t *scratch) {
    const long pixels = (long)p->in_h * p->in_w;
    const int in_c = p->in_c;
    long i;
    int c;
    if (plane_fits(p)) {                 /* the padded copy on the stack instead of the scratch */
        int8_t plane[padded_width(p) * padded_height(p)];
        for (c = 0; c < p->out_c; ++c) {
            depthwise_padded(p, c, buffer + c, in_c, buffer, plane);
        }
        return;
    }
    for (c = 0; c < p->out_c; ++c) {
        const int8_t *from = buffer + c;
        for (i = 0; i < pixels; ++i, from += in_c) {
            scratch[i] = *from;
        }
        depthwise_any(p, c, scratch, 1, buffer);
    }
}

/* reference/integer_ops/fully_connected.h FullyConnected (per-tensor weights, filter offset 0);
 * with the DSP extension two output rows at a time, each input word expanded once for both. */
void tinyml_fully_connected(const tinyml_fc_params *p, const int8_t *input, int8_t *output) {
    const int in_n = p->in_n, out_n = p->out_n;
    const int32_t in_offset = p->in_offset, out_offset = p->out_offset, lo = p->act_min, hi = p->act_max;
    const int8_t *weights = p->weights;
    const int32_t *bias = p->bias;
    const tinyml_rescale r = rescale_of(p->multiplier, p->shift);
    int o = 0, i;
#if TINYML_SIMD
    const int32_t offset2 = (int32_t)(((uint32_t)in_offset & 0xffffu) * 0x10001u);
    if (out_n >= 4 && in_n <= TINYML_COLUMN_MAX) {
        /* the input expanded once onto the stack, then four rows at a time */
        const int whole = in_n & ~3;
        int32_t col[whole / 2 + 1];
        expand_words(input, whole, offset2, col, 2);
        for (; o + 4 <= out_n; o += 4) {
            const int8_t *w0 = weights + (long)o * in_n, *w1 = w0 + in_n, *w2 = w1 + in_n, *w3 = w2 + in_n;
            const int32_t *c = col;
            int32_t s0 = bias[o], s1 = bias[o + 1], s2 = bias[o + 2], s3 = bias[o + 3];
            for (i = 0; i < whole; i += 4, c += 2) {
                const int32_t even = c[0], odd = c[1];
                int32_t v = load32(w0 + i);
                s0 = __smlad(odd, __sxtb16(ror8(v)), __smlad(even, __sxtb16(v), s0));
                v = load32(w1 + i);
                s1 = __smlad(odd, __sxtb16(ror8(v)), __smlad(even, __sxtb16(v), s1));
                v = load32(w2 + i);
                s2 = __smlad(odd, __sxtb16(ror8(v)), __smlad(even, __sxtb16(v), s2));
                v = load32(w3 + i);
                s3 = __smlad(odd, __sxtb16(ror8(v)), __smlad(even, __sxtb16(v), s3));
            }
            for (; i < in_n; ++i) {
                const int32_t x = (int32_t)input[i] + in_offset;
                s0 += w0[i] * x;
                s1 += w1[i] * x;
                s2 += w2[i] * x;
                s3 += w3[i] * x;
            }
            output[o] = (int8_t)clamp32(rescale(&r, s0) + out_offset, lo, hi);
            output[o + 1] = (int8_t)clamp32(rescale(&r, s1) + out_offset, lo, hi);
            output[o + 2] = (int8_t)clamp32(rescale(&r, s2) + out_offset, lo, hi);
            output[o + 3] = (int8_t)clamp32(rescale(&r, s3) + out_offset, lo, hi);
        }
    }
    for (; o + 2 <= out_n; o += 2) {
        const int8_t *w0 = weights + (long)o * in_n, *w1 = w0 + in_n;
        int32_t s0 = 0, s1 = 0;
        for (i = 0; i + 4 <= in_n; i += 4) {
            const int32_t v = load32(input + i), a = load32(w0 + i), b = load32(w1 + i);
            const int32_t even = __sxtab16(offset2, v), odd = __sxtab16(offset2, ror8(v));
            s0 = __smlad(odd, __sxtb16(ror8(a)), __smlad(even, __sxtb16(a), s0));
            s1 = __smlad(odd, __sxtb16(ror8(b)), __smlad(even, __sxtb16(b), s1));
        }
        for (; i < in_n; ++i) {
            const int32_t x = (int32_t)input[i] + in_offset;
            s0 += w0[i] * x;
            s1 += w1[i] * x;
        }
        output[o] = (int8_t)clamp32(rescale(&r, s0 + bias[o]) + out_offset, lo, hi);
        output[o + 1] = (int8_t)clamp32(rescale(&r, s1 + bias[o + 1]) + out_offset, lo, hi);
    }
#endif
    for (; o < out_n; ++o) {
        const int8_t *w = weights + (long)o * in_n;
        int32_t acc = 0;
        for (i = 0; i < in_n; ++i) {
            acc += (int32_t)w[i] * ((int32_t)input[i] + in_offset);
        }
        output[o] = (int8_t)clamp32(rescale(&r, acc + bias[o]) + out_offset, lo, hi);
    }
}

/* reference/integer_ops/add.h AddFunc: each input shifted left, rescaled, summed, rescaled.
 * Element i is read before it is written, so the output may be either input. */
void tinyml_add(const tinyml_add_params *p, const int8_t *input1, const int8_t *input2, int8_t *output) {
    /* the parameters in locals: the int8 output may alias anything, *p included */
    const int size = p->size, left_shift = p->left_shift;
    const int32_t in1_offset = p->in1_offset, in2_offset = p->in2_offset, out_offset = p->out_offset;
    const int32_t m1 = p->in1_multiplier, s1 = p->in1_shift, m2 = p->in2_multiplier, s2 = p->in2_shift;
    const int32_t mo = p->out_multiplier, so = p->out_shift, lo = p->act_min, hi = p->act_max;
    int i;
    for (i = 0; i < size; ++i) {
        const int32_t a = (int32_t)((uint32_t)(in1_offset + input1[i]) << left_shift);
        const int32_t b = (int32_t)((uint32_t)(in2_offset + input2[i]) << left_shift);
        const int32_t sum = requantize(a, m1, s1) + requantize(b, m2, s2);
        output[i] = (int8_t)clamp32(requantize(sum, mo, so) + out_offset, lo, hi);
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
    /* the parameters in locals: the int8 output may alias anything, *p included */
    const int channels = p->c, in_w = p->in_w, out_w = p->out_w;
    const int32_t lo = p->act_min, hi = p->act_max;
    int oy, ox, c, y, x, y0, y1, x0, x1;
    for (oy = 0; oy < p->out_h; ++oy) {
        for (ox = 0; ox < out_w; ++ox) {
            int8_t *out = output + ((long)oy * out_w + ox) * channels;
            const int8_t *corner;
            long row_step;
            int32_t count;
            pool_window(p, oy, ox, &y0, &y1, &x0, &x1);
            corner = input + ((long)y0 * in_w + x0) * channels;
            row_step = (long)in_w * channels;
            count = (y1 - y0) * (x1 - x0);
            for (c = 0; c < channels; ++c, ++corner) {
                const int8_t *row = corner;
                int32_t acc = 0, best = -128;
                for (y = y0; y < y1; ++y, row += row_step) {
                    const int8_t *in = row;
                    for (x = x0; x < x1; ++x, in += channels) {
                        const int32_t v = *in;
                        acc += v;
                        best = v > best ? v : best;
                    }
                }
                if (average) {
                    best = acc > 0 ? (acc + count / 2) / count : (acc - count / 2) / count;
                }
                out[c] = (int8_t)clamp32(best, lo, hi);
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
        output[c] = (int8_t)clamp32(requantize(sum, p->multiplier, p->shift) + p->out_zero_point,
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
