/* tinyml engine, patch-based execution: see tinyml_patch.h. */
#include "tinyml_patch.h"

#include <string.h>

void tinyml_copy_region(const tinyml_region_params *p, const int8_t *input, int8_t *output) {
    const size_t row = (size_t)p->cols * (size_t)p->c;
    int y;
    for (y = 0; y < p->rows; ++y) {
        memcpy(output + ((long)(p->dst_y + y) * p->dst_w + p->dst_x) * p->c,
               input + ((long)(p->src_y + y) * p->src_w + p->src_x) * p->c, row);
    }
}
