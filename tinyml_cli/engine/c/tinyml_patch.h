/* tinyml engine, patch-based execution: copying rectangles of NHWC feature maps (batch axis
 * implicit). A patch of the input or of an operand is cut out of a larger region, and each patch
 * of the split layer's output is copied into its place in the full map. */
#ifndef TINYML_PATCH_H
#define TINYML_PATCH_H

#include <stdint.h>

/* Rows x cols pixels of c channels, from (src_y, src_x) of a map src_w pixels wide into
 * (dst_y, dst_x) of a map dst_w pixels wide. */
typedef struct {
    int rows, cols, c, src_w, src_y, src_x, dst_w, dst_y, dst_x;
} tinyml_region_params;

void tinyml_copy_region(const tinyml_region_params *p, const int8_t *input, int8_t *output);

#endif /* TINYML_PATCH_H */
