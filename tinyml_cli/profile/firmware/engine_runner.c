/* The firmware's main for the tinyml C engine: the generated library (tinyml_model.c and
 * tinyml_kernels.c, no TFLM) run on the emulated core.
 *
 * Each input sample is copied to tinyml_input() (its slot in the engine's arena, so no input
 * buffer of its own) and tinyml_invoke() run between the markers
 * tinyml_mark_begin(0) / tinyml_mark_end(0); tinyml_model.c is compiled with its layer hooks
 * (TINYML_LAYER_BEGIN / _END) calling tinyml_op_begin() / tinyml_op_end(), so each layer's
 * instructions are counted too. Before each inference the free stack below the caller is painted;
 * afterwards the lowest word that lost its paint gives the bytes of stack the inference used.
 *
 * Lines printed (semihosting): "STACK n" (the most any inference used), "OUT i hex", "DONE".
 * engine_run.h (generated) defines TINYML_SAMPLES. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "engine_run.h"
#include "tinyml_model.h"

#define STACK_PAINT 0xA5A5A5A5u       /* as startup.c paints it */
#define STACK_MARGIN_WORDS 16         /* left unpainted below this frame: the painting loop's own */

extern uint32_t __stack_bottom[];
extern const int8_t tinyml_inputs[];
void tinyml_mark_begin(unsigned id);
void tinyml_mark_end(unsigned id);

static int8_t output[TINYML_OUTPUT_SIZE];

/* One inference between the markers; the stack bytes it used below this function's frame. */
__attribute__((noinline)) static unsigned invoke_measured(int *status) {
    volatile uint32_t *word;
    uint32_t *sp;
    __asm__ volatile("mov %0, sp" : "=r"(sp));
    for (word = __stack_bottom; word < (volatile uint32_t *)(sp - STACK_MARGIN_WORDS); ++word) {
        *word = STACK_PAINT;
    }
    tinyml_mark_begin(0);
    *status = tinyml_invoke(tinyml_input(), output);
    tinyml_mark_end(0);
    for (word = __stack_bottom; word < (volatile uint32_t *)sp && *word == STACK_PAINT; ++word) {
    }
    return (unsigned)((uintptr_t)sp - (uintptr_t)word);
}

static void print_hex(const int8_t *bytes, unsigned n) {
    static const char digits[] = "0123456789abcdef";
    unsigned i;
    for (i = 0; i < n; ++i) {
        putchar(digits[(uint8_t)bytes[i] >> 4]);
        putchar(digits[(uint8_t)bytes[i] & 15]);
    }
}

int main(void) {
    unsigned i, stack = 0;
    for (i = 0; i < TINYML_SAMPLES; ++i) {
        int status;
        unsigned used;
        memcpy(tinyml_input(), tinyml_inputs + (unsigned long)i * TINYML_INPUT_SIZE, TINYML_INPUT_SIZE);
        used = invoke_measured(&status);
        stack = used > stack ? used : stack;
        if (status != 0) {
            printf("ERROR tinyml_invoke returned %d on sample %u\n", status, i);
            return 5;
        }
        printf("OUT %u ", i);
        print_hex(output, TINYML_OUTPUT_SIZE);
        putchar('\n');
    }
    printf("STACK %u\n", stack);
    printf("DONE\n");
    return 0;
}
