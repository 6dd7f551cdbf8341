/* Included first (-include) into the engine's tinyml_model.c on the emulated core: its layer
 * hooks call the instruction markers of startup.c. */
#ifndef TINYML_ENGINE_MARKS_H
#define TINYML_ENGINE_MARKS_H
void tinyml_op_begin(void);
void tinyml_op_end(void);
#define TINYML_LAYER_BEGIN(index) tinyml_op_begin()
#define TINYML_LAYER_END(index) tinyml_op_end()
#endif
