/* ops.c — names of the ops of kernels/ops.h, and the check that a backend
 * fills every one of them. */
#include "backend.h"

const char *op_name(int op) {
#define OPS_NAME_ENTRY(name, ret, params, args) #name,
    static const char *const names[NUM_OPS] = {MTL_OPS(OPS_NAME_ENTRY)};
#undef OPS_NAME_ENTRY
    return op >= 0 && op < NUM_OPS ? names[op] : NULL;
}

const char *backend_missing_op(const Backend *be) {
    if (!be->alloc) return "alloc";
    if (!be->free) return "free";
    if (!be->sync) return "sync";
    if (!be->destroy) return "destroy";
#define OPS_CHECK_ENTRY(name, ret, params, args) \
    if (!be->name) return #name;
    MTL_OPS(OPS_CHECK_ENTRY)
#undef OPS_CHECK_ENTRY
    return NULL;
}
