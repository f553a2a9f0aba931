/* debugstate.h — reader for the PyTorch golden-state file
 * (format: reference/DEBUG_STATE.md). Implemented in impl/model/debugstate.c. */
#ifndef MTL_DEBUGSTATE_H
#define MTL_DEBUGSTATE_H

#include <stdint.h>

#include "util.h"

enum { DS_F32 = 0, DS_I32 = 1, DS_F64 = 2 };

typedef struct {
    char *name;
    int dtype;
    int ndim;
    int shape[4];
    long numel;
    void *data; /* float*, int32_t* or double* per dtype */
} DsTensor;

typedef struct {
    int n;
    DsTensor *t;
} DebugState;

/* Load the whole file. Fails with a message naming the file and byte offset
 * on a missing file, wrong magic, unsupported version, truncation, or an
 * implausible header. */
DebugState *debugstate_load(const char *path, Err *err);
void debugstate_free(DebugState *ds);
/* Lookup by name; NULL if absent. */
const DsTensor *debugstate_get(const DebugState *ds, const char *name);

#endif
