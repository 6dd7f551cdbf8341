/*
 * Bare-metal start-up for the firmware run in QEMU's mps2 boards (Cortex-M4, M7, M33).
 *
 * Reset path: paint the whole stack with STACK_PAINT (before anything uses it), copy .data from
 * flash, zero .bss, enable the FPU when compiled for one, open newlib's semihosting handles
 * (librdimon: printf and puts go out through the debugger channel, which QEMU serves), run C/C++
 * constructors, call main() and leave through exit(): newlib flushes stdio, then _exit() below
 * ends QEMU with main's return code.
 *
 * Semihosting (Arm "Semihosting for AArch32 and AArch64", v2.0): on M-profile the call is
 * `bkpt 0xab` with the operation in r0 and its argument in r1. SYS_EXIT (0x18) on AArch32 takes only
 * a reason code, so QEMU exits 0 or 1; SYS_EXIT_EXTENDED (0x20) takes a block {reason, subcode} and
 * QEMU 7.2 (semihosting/arm-compat-semi.c) exits with the subcode for ADP_Stopped_ApplicationExit.
 *
 * Instruction marks: tinyml_mark_begin() and tinyml_mark_end() (and tinyml_op_begin() / tinyml_op_end()
 * for spans nested inside theirs) do nothing; the QEMU plugin
 * (plugin/insn_marks.c) logs the executed-instruction count each time the first instruction of one
 * of them runs. QEMU 7.2's plugin API cannot read registers or memory values, so the `id` argument
 * is not seen by the plugin: the log is the sequence of B/E counts in execution order, and the
 * firmware prints its ids itself in the same order.
 *
 * Faults print their name, the stacked PC and the fault status registers through semihosting and
 * exit with 128 + the exception number (HardFault 131, MemManage 132, BusFault 133, UsageFault 134,
 * SecureFault 135).
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <errno.h>
#include <sys/types.h>

#define STACK_PAINT 0xA5A5A5A5u

/* Semihosting operations and reason codes (Arm semihosting specification, section "SYS_EXIT"). */
#define SYS_WRITE0 0x04
#define SYS_EXIT_EXTENDED 0x20
#define ADP_Stopped_ApplicationExit 0x20026u

/* System control block registers (Armv7-M / Armv8-M Architecture Reference Manual, B3.2 / D1.2). */
#define SCB_CPACR (*(volatile uint32_t *)0xE000ED88u)
#define SCB_CFSR (*(volatile uint32_t *)0xE000ED28u)
#define SCB_HFSR (*(volatile uint32_t *)0xE000ED2Cu)
#define SCB_MMFAR (*(volatile uint32_t *)0xE000ED34u)
#define SCB_BFAR (*(volatile uint32_t *)0xE000ED38u)
#define MPU_CTRL (*(volatile uint32_t *)0xE000ED94u)
#define MPU_RNR (*(volatile uint32_t *)0xE000ED98u)
#define MPU_RBAR (*(volatile uint32_t *)0xE000ED9Cu)
#define MPU_RASR (*(volatile uint32_t *)0xE000EDA0u)  /* Armv7-M; Armv8-M: MPU_RLAR at the same address */
#define MPU_MAIR0 (*(volatile uint32_t *)0xE000EDC0u)

/* Symbols of link.ld.in. */
extern uint32_t __flash_start[], __flash_end[];
extern uint32_t __data_load[], __data_start[], __data_end[];
extern uint32_t __bss_start__[], __bss_end__[];
extern uint32_t __stack_bottom[], __stack_top[];
extern char __heap_start[], __heap_end[];

extern int main(void);
extern void initialise_monitor_handles(void);  /* newlib's librdimon */
extern void __libc_init_array(void);           /* newlib: runs .preinit_array and .init_array */

void Reset_Handler(void);
void tinyml_fault_entry(void);
void tinyml_reset_c(void);

/* ---- semihosting ----------------------------------------------------------------------------- */

static int semihost(int op, const void *arg)
{
    register int r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

/* Leave QEMU with `code` as its exit status (newlib's exit() ends here after flushing stdio). */
__attribute__((noreturn)) void _exit(int code)
{
    const uint32_t block[2] = {ADP_Stopped_ApplicationExit, (uint32_t)code};
    semihost(SYS_EXIT_EXTENDED, block);
    for (;;) {
    }
}

/* ---- C library hooks -------------------------------------------------------------------------- */

/* The heap lies between .bss and the stack (link.ld.in); malloc fails with ENOMEM past its end
 * instead of growing into the stack (this replaces librdimon's weak _sbrk). */
void *_sbrk(ptrdiff_t increment)
{
    static char *brk = __heap_start;
    if (increment > __heap_end - brk || increment < __heap_start - brk) {
        errno = ENOMEM;
        return (void *)-1;
    }
    char *previous = brk;
    brk += increment;
    return previous;
}

/* -nostartfiles drops crti.o/crtn.o and crtbegin.o: __libc_init_array calls _init, and C++
 * objects with static storage register their destructors against __dso_handle. */
void _init(void) {}
void _fini(void) {}
void *__dso_handle __attribute__((weak)) = &__dso_handle;

/* ---- stack usage and instruction marks ------------------------------------------------------- */

/* Bytes of stack ever touched: from the top down to the lowest word that lost its paint. */
unsigned tinyml_stack_used(void)
{
    const volatile uint32_t *word = __stack_bottom;
    while (word < __stack_top && *word == STACK_PAINT) {
        word++;
    }
    return (unsigned)((const char *)__stack_top - (const char *)word);
}

/* noipa: never inlined, cloned or folded into its twin (the two bodies are identical otherwise),
 * so each keeps its own address for the plugin; the barrier keeps calls ordered with memory. */
__attribute__((noinline, noipa, used)) void tinyml_mark_begin(unsigned id)
{
    __asm__ volatile("" : : "r"(id) : "memory");
}

__attribute__((noinline, noipa, used)) void tinyml_mark_end(unsigned id)
{
    __asm__ volatile("" : : "r"(id) : "memory");
}

/* The same for spans nested inside a begin/end pair (the runner: each operator of an inference). */
__attribute__((noinline, noipa, used)) void tinyml_op_begin(void)
{
    __asm__ volatile("" : : : "memory");
}

__attribute__((noinline, noipa, used)) void tinyml_op_end(void)
{
    __asm__ volatile("" ::: "memory");
}

/* ---- faults ----------------------------------------------------------------------------------- */

static const char *exception_name(unsigned number)
{
    switch (number) {
    case 2: return "NMI";
    case 3: return "HardFault";
    case 4: return "MemManage fault";
    case 5: return "BusFault";
    case 6: return "UsageFault";
    case 7: return "SecureFault";
    case 11: return "SVCall";
    case 12: return "DebugMonitor";
    case 14: return "PendSV";
    case 15: return "SysTick";
    default: return "interrupt";
    }
}

/* Append "label0x%08x" to text (no stdio: the heap or stdio state may be what broke). */
static char *append_hex(char *text, const char *label, uint32_t value)
{
    while (*label) {
        *text++ = *label++;
    }
    *text++ = '0';
    *text++ = 'x';
    for (int shift = 28; shift >= 0; shift -= 4) {
        *text++ = "0123456789abcdef"[(value >> shift) & 0xFu];
    }
    return text;
}

/* Reports a fault from its exception frame (r0-r3, r12, lr, pc, xpsr) and IPSR, then exits. */
__attribute__((used, noreturn)) void tinyml_fault_report(const uint32_t *frame, uint32_t ipsr)
{
    char line[160];
    char *end = line;
    const char *name = exception_name(ipsr & 0x1FFu);
    const char *prefix = "tinyml: ";
    while (*prefix) {
        *end++ = *prefix++;
    }
    while (*name) {
        *end++ = *name++;
    }
    end = append_hex(end, " pc=", frame[6]);
    end = append_hex(end, " cfsr=", SCB_CFSR);
    end = append_hex(end, " hfsr=", SCB_HFSR);
    end = append_hex(end, " mmfar=", SCB_MMFAR);
    end = append_hex(end, " bfar=", SCB_BFAR);
    *end++ = '\n';
    *end = '\0';
    semihost(SYS_WRITE0, line);
    _exit(128 + (int)(ipsr & 0x1FFu));
}

/* Where a fault resumes instead of ending the run (0: nowhere). A firmware that probes something
 * that may crash (TFLM's allocator on an arena just too small) sets it around the probe. */
void (*volatile tinyml_fault_resume)(void) = 0;

/* Called by tinyml_fault_entry with the exception frame (r0-r3, r12, lr, pc, xpsr) and IPSR: resume
 * at tinyml_fault_resume (the frame's return address and xPSR rewritten, the fault status cleared;
 * the exception return then enters it in Thumb state), else report the fault and exit. */
__attribute__((used)) void tinyml_fault_handle(uint32_t *frame, uint32_t ipsr)
{
    void (*resume)(void) = tinyml_fault_resume;
    if (resume != 0) {
        frame[6] = (uint32_t)resume & ~1u;
        frame[7] = 1u << 24;                   /* xPSR: only the Thumb bit */
        SCB_CFSR = SCB_CFSR;                   /* write-one-to-clear */
        SCB_HFSR = SCB_HFSR;
        return;
    }
    tinyml_fault_report(frame, ipsr);
}

/* Every exception but reset: hand the stacked frame (on MSP, the only stack used) to C; should the
 * handler return, return from the exception (EXC_RETURN, saved with the frame pointer). */
__attribute__((naked)) void tinyml_fault_entry(void)
{
    __asm__ volatile(
        "mov r0, sp\n"
        "mrs r1, ipsr\n"
        "push {r0, lr}\n"
        "bl tinyml_fault_handle\n"
        "pop {r0, pc}\n");
}

/* ---- memory protection ------------------------------------------------------------------------ */

/* QEMU's "flash" is RAM: a wild store (TFLM's planner on an arena just too small) could rewrite the
 * vector table or code. The MPU makes FLASH, and the alias QEMU maps it at too, read-only, so such a
 * store faults (and a probe can resume) instead; the default memory map stays for everything else
 * (PRIVDEFENA). Armv7-M PMSAv7 (ARMv7-M ARM B3.5): RBAR base | VALID | region, RASR AP=0b110
 * (read-only), SIZE = log2(bytes) - 1, ENABLE. Armv8-M PMSAv8 (ARMv8-M ARM B10): RBAR base | AP=0b11
 * (read-only) << 1, RLAR limit | ENABLE, attribute 0 in MAIR0. */
static void protect_flash(void)
{
    uint32_t start = (uint32_t)__flash_start, length = (uint32_t)__flash_end - start;
#if defined(__ARM_ARCH_8M_MAIN__)
    uint32_t alias = start & 0x0FFFFFFFu;              /* an505: 0x10000000 is the Secure alias of 0x0 */
    MPU_MAIR0 = 0x44u;                                 /* normal memory, non-cacheable */
    for (uint32_t region = 0; region < 2; ++region) {
        uint32_t base = region == 0 ? start : alias;
        MPU_RNR = region;
        MPU_RBAR = base | (3u << 1);
        MPU_RASR = ((base + length - 1u) & ~31u) | 1u;
    }
#else
    uint32_t size_field = 31u - (uint32_t)__builtin_clz(length) - 1u;
    for (uint32_t region = 0; region < 2; ++region) {   /* the memory, then its mirror above it */
        MPU_RBAR = (start + region * length) | (1u << 4) | region;
        MPU_RASR = (6u << 24) | (1u << 17) | (size_field << 1) | 1u;
    }
#endif
    MPU_CTRL = (1u << 2) | 1u;
    __asm__ volatile("dsb\n isb" : : : "memory");
}

/* ---- reset ------------------------------------------------------------------------------------ */

__attribute__((noreturn, used)) void tinyml_reset_c(void)
{
#if defined(__ARM_ARCH_8M_MAIN__)
    /* Armv8-M: a push below the stack's end raises a UsageFault (STKOF) instead of corrupting the heap. */
    __asm__ volatile("msr msplim, %0" : : "r"(__stack_bottom));
#endif
    for (uint32_t *src = __data_load, *dst = __data_start; dst < __data_end;) {
        *dst++ = *src++;
    }
    for (uint32_t *dst = __bss_start__; dst < __bss_end__;) {
        *dst++ = 0;
    }
#if defined(__ARM_FP)
    /* Full access to CP10 and CP11 (the FPU) before any floating-point instruction. */
    SCB_CPACR |= 0xFu << 20;
    __asm__ volatile("dsb\n isb" : : : "memory");
#endif
    protect_flash();
    initialise_monitor_handles();
    __libc_init_array();
    exit(main());
}

/* Paints [__stack_bottom, __stack_top) before any C code runs, then enters tinyml_reset_c. */
__attribute__((naked, noreturn)) void Reset_Handler(void)
{
    __asm__ volatile(
        "ldr r0, =__stack_bottom\n"
        "ldr r1, =__stack_top\n"
        "ldr r2, =0xA5A5A5A5\n"
        "mov sp, r1\n"
        "1: cmp r0, r1\n"
        "bhs 2f\n"
        "str r2, [r0], #4\n"
        "b 1b\n"
        "2: b tinyml_reset_c\n"
        ".ltorg\n");
}

/* The initial vector table (Armv7-M B1.5.3 / Armv8-M B3.30): the initial SP, then the exception
 * handlers. Placed first in FLASH by link.ld.in, where VTOR points at reset. */
typedef void (*vector_t)(void);

struct vector_table {
    uint32_t *initial_sp;
    vector_t handlers[15];
};

__attribute__((section(".vectors"), used)) const struct vector_table tinyml_vectors = {
    __stack_top, /* 0: initial main stack pointer */
    {
        Reset_Handler,      /* 1 */
        tinyml_fault_entry, /* 2: NMI */
        tinyml_fault_entry, /* 3: HardFault */
        tinyml_fault_entry, /* 4: MemManage */
        tinyml_fault_entry, /* 5: BusFault */
        tinyml_fault_entry, /* 6: UsageFault */
        tinyml_fault_entry, /* 7: SecureFault (Armv8-M), reserved before */
        0, 0, 0,            /* 8-10: reserved */
        tinyml_fault_entry, /* 11: SVCall */
        tinyml_fault_entry, /* 12: DebugMonitor */
        0,                  /* 13: reserved */
        tinyml_fault_entry, /* 14: PendSV */
        tinyml_fault_entry, /* 15: SysTick */
    },
};
