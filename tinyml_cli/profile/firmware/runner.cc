// The firmware's main: one .tflite model run by TensorFlow Lite Micro on the emulated core.
//
// 1. The smallest arena AllocateTensors() accepts, by bisection between 0 and the static arena's
//    size (TFLM's logs muted meanwhile; a fresh interpreter per try, as a fresh boot would have).
//    Some sizes just too small make TFLM's planner read wild pointers and fault (the host build
//    segfaults alike): startup.c's fault handler resumes at probe_crashed, which counts that size
//    as too small. Guard bands around the arena keep such a probe's stray accesses off other data.
// 2. With exactly that arena: arena_used_bytes(), then each input sample copied into the input
//    tensor and Invoke() run between the markers tinyml_mark_begin(0) / tinyml_mark_end(0), each
//    operator between tinyml_mark_begin(1) / tinyml_mark_end(1) (a MicroProfilerInterface: TFLM
//    calls it around every operator's Invoke), and the output bytes printed in hex.
// 3. The stack's high-water mark.
//
// Lines printed (semihosting): "ARENA_MIN n", "ARENA_USED n", "OUT i hex", "STACK n", "DONE".
// model.h (generated per model) defines TINYML_ARENA_MAX, TINYML_SAMPLES, TINYML_INPUT_BYTES,
// TINYML_ADD_OPS(resolver) and TINYML_OP_COUNT, and declares the model and input bytes.

#include <csetjmp>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <new>

#include "model.h"
#include "tensorflow/lite/micro/micro_interpreter.h"
#include "tensorflow/lite/micro/micro_mutable_op_resolver.h"
#include "tensorflow/lite/micro/micro_profiler_interface.h"

extern "C" {
void tinyml_mark_begin(unsigned id);
void tinyml_mark_end(unsigned id);
void tinyml_op_begin(void);
void tinyml_op_end(void);
unsigned tinyml_stack_used(void);
extern void (*volatile tinyml_fault_resume)(void);
}

namespace {

bool quiet = false;

constexpr size_t kGuard = 256 * 1024;
alignas(16) uint8_t arena_region[kGuard + TINYML_ARENA_MAX + kGuard] __attribute__((section(".arena")));
uint8_t* const arena = arena_region + kGuard;
jmp_buf probe_jump;

void probe_crashed() { longjmp(probe_jump, 1); }
alignas(tflite::MicroInterpreter) uint8_t interpreter_storage[sizeof(tflite::MicroInterpreter)];
tflite::MicroMutableOpResolver<TINYML_OP_COUNT> resolver;

class OperatorMarks : public tflite::MicroProfilerInterface {
 public:
  uint32_t BeginEvent(const char* tag) override {
    tinyml_op_begin();
    return 0;
  }
  void EndEvent(uint32_t event_handle) override { tinyml_op_end(); }
};

OperatorMarks marks;

tflite::MicroInterpreter* make_interpreter(size_t arena_bytes, tflite::MicroProfilerInterface* profiler) {
  return new (interpreter_storage) tflite::MicroInterpreter(
      tflite::GetModel(tinyml_model), resolver, arena, arena_bytes, nullptr, profiler);
}

void drop(tflite::MicroInterpreter* interpreter) { interpreter->~MicroInterpreter(); }

bool allocates(size_t arena_bytes) {
  tflite::MicroInterpreter* interpreter = make_interpreter(arena_bytes, nullptr);
  bool ok = interpreter->AllocateTensors() == kTfLiteOk;
  drop(interpreter);
  return ok;
}

// allocates(), with a fault counted as "too small" (the interpreter left as it was: the next probe
// constructs a fresh one over it)
bool allocates_or_crashes(size_t arena_bytes) {
  if (setjmp(probe_jump) != 0) {
    tinyml_fault_resume = nullptr;
    return false;
  }
  tinyml_fault_resume = probe_crashed;
  bool ok = allocates(arena_bytes);
  tinyml_fault_resume = nullptr;
  return ok;
}

void print_hex(const uint8_t* bytes, size_t n) {
  static const char digits[] = "0123456789abcdef";
  for (size_t i = 0; i < n; ++i) {
    putchar(digits[bytes[i] >> 4]);
    putchar(digits[bytes[i] & 15]);
  }
}

}  // namespace

// TFLM's logging (tensorflow/lite/micro/debug_log.cc), muted while the arena is searched.
extern "C" void DebugLog(const char* format, va_list args) {
  if (!quiet) vfprintf(stderr, format, args);
}

extern "C" int DebugVsnprintf(char* buffer, size_t buf_size, const char* format, va_list vlist) {
  return vsnprintf(buffer, buf_size, format, vlist);
}

int main() {
  TINYML_ADD_OPS(resolver);
  quiet = true;
  if (!allocates(TINYML_ARENA_MAX)) {
    quiet = false;
    allocates(TINYML_ARENA_MAX);  // again, logging why
    printf("ERROR arena of %u bytes too small\n", static_cast<unsigned>(TINYML_ARENA_MAX));
    return 2;
  }
  size_t lo = 0, hi = TINYML_ARENA_MAX;  // allocates(hi), not allocates(lo)
  while (hi - lo > 1) {
    size_t mid = lo + (hi - lo) / 2;
    if (allocates_or_crashes(mid)) {
      hi = mid;
    } else {
      lo = mid;
    }
  }
  quiet = false;
  printf("ARENA_MIN %u\n", static_cast<unsigned>(hi));

  tflite::MicroInterpreter* interpreter = make_interpreter(hi, &marks);
  if (interpreter->AllocateTensors() != kTfLiteOk) {
    printf("ERROR AllocateTensors failed\n");
    return 3;
  }
  printf("ARENA_USED %u\n", static_cast<unsigned>(interpreter->arena_used_bytes()));
  TfLiteTensor* input = interpreter->input(0);
  TfLiteTensor* output = interpreter->output(0);
  if (input->bytes != TINYML_INPUT_BYTES) {
    printf("ERROR input tensor has %u bytes, samples %u\n", static_cast<unsigned>(input->bytes),
           static_cast<unsigned>(TINYML_INPUT_BYTES));
    return 4;
  }
  for (unsigned i = 0; i < TINYML_SAMPLES; ++i) {
    memcpy(input->data.raw, tinyml_inputs + i * TINYML_INPUT_BYTES, TINYML_INPUT_BYTES);
    tinyml_mark_begin(0);
    TfLiteStatus status = interpreter->Invoke();
    tinyml_mark_end(0);
    if (status != kTfLiteOk) {
      printf("ERROR Invoke failed on sample %u\n", i);
      return 5;
    }
    printf("OUT %u ", i);
    print_hex(reinterpret_cast<const uint8_t*>(output->data.raw), output->bytes);
    putchar('\n');
  }
  printf("STACK %u\n", tinyml_stack_used());
  printf("DONE\n");
  return 0;
}
