/* fuzz_checkpoint.c — libFuzzer target: the checkpoint reader (impl/model/checkpoint.h)
 * on arbitrary bytes, as `mtl train --resume`, `--init RUN/checkpoint.bin`,
 * `mtl eval` and `mtl export` read a file.
 *
 *   bash fuzz/run.sh 60 fuzz_checkpoint    (seed: tests/fixtures/ckpt_tiny_ner.bin, a 1-step
 *                                           run of the 16-wide hf_golden/ner checkpoint)
 *
 * The bytes go to an in-memory file (memfd) read through its /proc path.
 * checkpoint_read_config must refuse with a message or return a config that
 * config_validate accepts; then, for a small enough model, checkpoint_load
 * into a model of that config must refuse with a message or succeed, and
 * checkpoint_init_params likewise. Any broken invariant is a __builtin_trap().
 * fuzz-sources: impl/ kernels/ kernels/cpu/
 * fuzz-flags: -fopenmp
 * fuzz-max-len: 131072
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "backend.h"
#include "fuzz_memfd.h"
#include "checkpoint.h"
#include "config.h"
#include "model.h"

static void check(int ok) {
    if (!ok) __builtin_trap();
}

/* Refusal says why; success leaves err as it was. */
static void check_rc(int rc, const Err *err) {
    if (rc != 0) check(err->msg[0] != '\0');
}

static void load_into_model(const char *path, const ModelConfig *cfg) {
    ModelCounts k = model_counts(cfg, 1, 8);
    if (k.total > ((size_t)1 << 20)) return; /* keep each input fast */
    Backend *be = backend_cpu(1);
    Err err;
    Model *m = model_create(cfg, be, 1, cfg->maxT < 8 ? cfg->maxT : 8, &err);
    if (m) {
        TrainState st = {0};
        err.msg[0] = '\0';
        check_rc(checkpoint_load(path, m, &st, &err), &err);
        ckpt_state_free(&st);
        int copied = 0, skipped = 0;
        err.msg[0] = '\0';
        int rc = checkpoint_init_params(path, m, &copied, &skipped, &err);
        check_rc(rc, &err);
        if (rc == 0) check(copied > 0 && copied + skipped == model_num_tensors(m));
        model_free(m);
    }
    be->destroy(be);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char path[64];
    int fd = fuzz_memfd(data, size, path);
    if (fd < 0) return 0;
    ModelConfig cfg;
    Err err;
    err.msg[0] = '\0';
    int rc = checkpoint_read_config(path, &cfg, &err);
    check_rc(rc, &err);
    if (rc == 0) {
        Err e2;
        check(config_validate(&cfg, &e2) == 0); /* a config read back is a valid one */
        load_into_model(path, &cfg);
    }
    close(fd);
    return 0;
}
