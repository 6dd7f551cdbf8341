/*
 * QEMU TCG plugin: count every executed guest instruction exactly and log the count each time the
 * first instruction of a marker function runs.
 *
 *   qemu-system-arm ... -plugin insn_marks.so,out=PATH[,begin=ADDR][,end=ADDR]
 *
 * PATH receives one line per marker hit, in execution order, "B <count>" (begin) or "E <count>"
 * (end), and "T <total>" when QEMU exits. ADDR is the marker's address (C syntax, e.g. 0x1234;
 * Thumb bit cleared). Each instruction adds 1 to a 64-bit counter inline before it executes, so the
 * count is exact whatever the translation blocks are (a block left early by an exception counts
 * only what ran). Whether the count logged at a marker includes the marker's first instruction
 * depends on QEMU's order of inline ops and callbacks, but it is the same for every marker, so
 * E - B is exactly the instructions executed from the begin marker's entry to the end marker's.
 * The boards are single-core: one plain counter, no atomics.
 *
 * There is no qemu-plugin.h to include on Debian: the declarations below are the subset of QEMU
 * 7.2's include/qemu/qemu-plugin.h (plugin API version 1) this file uses, with the same types.
 */

#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- QEMU 7.2 plugin API (include/qemu/qemu-plugin.h, QEMU_PLUGIN_VERSION 1) ------------------- */

#define QEMU_PLUGIN_EXPORT __attribute__((visibility("default")))

typedef uint64_t qemu_plugin_id_t;

typedef struct qemu_info_t {
    const char *target_name;
    struct {
        int min;
        int cur;
    } version;
    bool system_emulation;
    union {
        struct {
            int smp_vcpus;
            int max_vcpus;
        } system;
    };
} qemu_info_t;

struct qemu_plugin_tb;
struct qemu_plugin_insn;

enum qemu_plugin_cb_flags {
    QEMU_PLUGIN_CB_NO_REGS,
    QEMU_PLUGIN_CB_R_REGS,
    QEMU_PLUGIN_CB_RW_REGS,
};

enum qemu_plugin_op {
    QEMU_PLUGIN_INLINE_ADD_U64,
};

typedef void (*qemu_plugin_udata_cb_t)(qemu_plugin_id_t id, void *userdata);
typedef void (*qemu_plugin_vcpu_udata_cb_t)(unsigned int vcpu_index, void *userdata);
typedef void (*qemu_plugin_vcpu_tb_trans_cb_t)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);

void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, qemu_plugin_vcpu_tb_trans_cb_t cb);
void qemu_plugin_register_vcpu_insn_exec_cb(struct qemu_plugin_insn *insn, qemu_plugin_vcpu_udata_cb_t cb,
                                            enum qemu_plugin_cb_flags flags, void *userdata);
void qemu_plugin_register_vcpu_insn_exec_inline(struct qemu_plugin_insn *insn, enum qemu_plugin_op op,
                                                void *ptr, uint64_t imm);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, qemu_plugin_udata_cb_t cb, void *userdata);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *tb, size_t idx);
uint64_t qemu_plugin_insn_vaddr(const struct qemu_plugin_insn *insn);
void qemu_plugin_outs(const char *string);

/* The API version these declarations match; QEMU 7.2 accepts 0 and 1. */
QEMU_PLUGIN_EXPORT int qemu_plugin_version = 1;

/* ---- the plugin ------------------------------------------------------------------------------- */

struct marker {
    bool set;
    uint64_t addr;
};

/* begin= / end= log 'B' / 'E'; op_begin= / op_end= (markers nested inside them) log 'b' / 'e' */
#define MARKERS 4
static const char marker_letters[MARKERS] = {'B', 'E', 'b', 'e'};
static const char *const marker_args[MARKERS] = {"begin=", "end=", "op_begin=", "op_end="};
static uint64_t executed;       /* guest instructions executed so far */
static struct marker markers[MARKERS];
static FILE *out;

static void on_marker(unsigned int vcpu_index, void *userdata)
{
    (void)vcpu_index;
    /* flushed at once so the log survives QEMU being killed on a timeout */
    fprintf(out, "%c %" PRIu64 "\n", (int)(uintptr_t)userdata, executed);
    fflush(out);
}

static void on_translate(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    (void)id;
    size_t n = qemu_plugin_tb_n_insns(tb);
    for (size_t i = 0; i < n; i++) {
        struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
        uint64_t pc = qemu_plugin_insn_vaddr(insn);
        qemu_plugin_register_vcpu_insn_exec_inline(insn, QEMU_PLUGIN_INLINE_ADD_U64, &executed, 1);
        for (int m = 0; m < MARKERS; m++) {
            if (markers[m].set && pc == markers[m].addr) {
                qemu_plugin_register_vcpu_insn_exec_cb(insn, on_marker, QEMU_PLUGIN_CB_NO_REGS,
                                                       (void *)(uintptr_t)marker_letters[m]);
            }
        }
    }
}

static void on_qemu_exit(qemu_plugin_id_t id, void *userdata)
{
    (void)id;
    (void)userdata;
    fprintf(out, "T %" PRIu64 "\n", executed);
    fclose(out);
}

/* Parse "0x..." (or decimal) into marker; false if it is not a whole number. */
static bool parse_address(const char *text, struct marker *marker)
{
    char *rest;
    marker->addr = strtoull(text, &rest, 0);
    marker->set = *text != '\0' && *rest == '\0';
    return marker->set;
}

static int fail(const char *message, const char *arg)
{
    char line[512];
    snprintf(line, sizeof line, "insn_marks: %s: %s\n", message, arg);
    qemu_plugin_outs(line);
    return 1;
}

QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc, char **argv)
{
    const char *path = NULL;
    (void)info;
    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i];
        int m = 0;
        while (m < MARKERS && strncmp(arg, marker_args[m], strlen(marker_args[m])) != 0) {
            m++;
        }
        if (strncmp(arg, "out=", 4) == 0) {
            path = arg + 4;
        } else if (m < MARKERS) {
            if (!parse_address(arg + strlen(marker_args[m]), &markers[m])) {
                return fail("not an address", arg);
            }
        } else {
            return fail("unknown argument (expected out=, begin=, end=, op_begin=, op_end=)", arg);
        }
    }
    if (path == NULL || *path == '\0') {
        return fail("missing argument", "out=PATH");
    }
    out = fopen(path, "w");
    if (out == NULL) {
        return fail("cannot write", path);
    }
    qemu_plugin_register_vcpu_tb_trans_cb(id, on_translate);
    qemu_plugin_register_atexit_cb(id, on_qemu_exit, NULL);
    return 0;
}
