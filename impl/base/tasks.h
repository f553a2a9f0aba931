/* tasks.h — the tasks of the suite, below every layer that names one (data,
 * sampler, model, metrics). */
#ifndef MTL_TASKS_H
#define MTL_TASKS_H

#include "names.h"

/* The tasks. Arrays indexed by task have NUM_TASKS entries; a set of tasks
 * is a bitmask of 1 << task (ALL_TASKS: every one). Adding a task: its id
 * here and its name in TASK_SET_NAMES (tasks.c), its head (HEAD_* in config.h,
 * = 1 << its id; parameters in model.c, forward/backward in model_pass.c),
 * its loss and decoder, its data in train_data.c and its sampler weight
 * (sampler.c, from its training windows), its metrics in train_eval.c. */
enum { TASK_NER = 0, TASK_QA = 1, NUM_TASKS };
#define ALL_TASKS ((1 << NUM_TASKS) - 1)

/* The words of the task sets a --task option names: ner, qa, mtl (both). */
extern const EnumName TASK_SET_NAMES[];
/* The same sets as the heads a command on a trained model uses: ner, qa, all. */
extern const EnumName HEAD_SET_NAMES[];
/* "ner", "qa" (NULL out of range); "joint" names a set of several tasks. */
const char *task_name(int task);
/* The name of a nonempty task set: its task's name, or "joint". */
const char *task_set_name(int tasks);

#endif
