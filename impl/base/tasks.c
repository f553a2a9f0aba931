/* tasks.c — the tasks' names (tasks.h). */
#include "tasks.h"

#include <stddef.h>

const EnumName TASK_SET_NAMES[] = {{"ner", 1 << TASK_NER}, {"qa", 1 << TASK_QA}, {"mtl", ALL_TASKS}, {NULL, 0}};
const EnumName HEAD_SET_NAMES[] = {{"ner", 1 << TASK_NER}, {"qa", 1 << TASK_QA}, {"all", ALL_TASKS}, {NULL, 0}};

const char *task_name(int task) {
    return task >= 0 && task < NUM_TASKS ? enum_name(TASK_SET_NAMES, 1 << task) : NULL;
}

const char *task_set_name(int tasks) {
    for (int k = 0; k < NUM_TASKS; k++)
        if (tasks == 1 << k) return task_name(k);
    return "joint";
}
