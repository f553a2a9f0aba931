/* fuzz_config.c — libFuzzer target: `mtl train --config FILE` on arbitrary
 * bytes (impl/train/train_opts.c: key=value lines or one JSON object), then the
 * validation of what was read.
 *
 *   bash fuzz/run.sh 60 fuzz_config        (seeds: tests/fixtures/)
 *
 * The bytes go to an in-memory file (memfd) read through its /proc path, as
 * a config file is. Loading must either refuse with a message or give
 * options that train_options_validate() then accepts or refuses with a
 * message; every string option it stored must be NUL-terminated within its
 * buffer, and every enumerated one (impl/base/opts.h) one of its words. Any
 * broken invariant is a __builtin_trap().
 * fuzz-sources: impl/ kernels/ kernels/cpu/
 * fuzz-flags: -fopenmp
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_memfd.h"
#include "train.h"

static void check(int ok) {
    if (!ok) __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char path[64];
    int fd = fuzz_memfd(data, size, path);
    if (fd < 0) return 0;
    TrainOptions o;
    train_options_default(&o);
    Err err;
    err.msg[0] = '\0';
    if (train_options_load_file(&o, path, &err) != 0) {
        check(err.msg[0] != '\0');
    } else {
        check(memchr(o.preset, '\0', sizeof o.preset) && memchr(o.out, '\0', sizeof o.out) &&
              memchr(o.init, '\0', sizeof o.init) && memchr(o.seeds, '\0', sizeof o.seeds));
        check(strcmp(enum_name(TASK_SET_NAMES, o.tasks), "?") && strcmp(enum_name(SAMPLING_NAMES, o.sampling), "?") &&
              strcmp(enum_name(NER_DECODE_NAMES, o.decode), "?") && strcmp(enum_name(DEVICE_NAMES, o.device), "?") &&
              strcmp(enum_name(LOSS_WEIGHTING_NAMES, o.loss_weighting), "?"));
        err.msg[0] = '\0';
        if (train_options_validate(&o, &err) != 0) check(err.msg[0] != '\0');
    }
    close(fd);
    return 0;
}
