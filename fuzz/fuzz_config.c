/* fuzz_config.c — libFuzzer target: `mtl train --config FILE` on arbitrary
 * bytes (impl/train_opts.c: key=value lines or one JSON object), then the
 * validation of what was read.
 *
 *   bash fuzz/run.sh 60 fuzz_config        (seeds: tests/fixtures/)
 *
 * The bytes go to an in-memory file (memfd) read through its /proc path, as
 * a config file is. Loading must either refuse with a message or give
 * options that train_options_validate() then accepts or refuses with a
 * message; and every string option it stored must be NUL-terminated within
 * its buffer. Any broken invariant is a __builtin_trap().
 * fuzz-sources: impl/train_opts.c impl/config.c impl/jsonw.c impl/jsonr.c impl/sampler.c impl/squad.c impl/squad_feat.c impl/tokenizer.c impl/util.c
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
        check(memchr(o.task, '\0', sizeof o.task) && memchr(o.sampling, '\0', sizeof o.sampling) &&
              memchr(o.out, '\0', sizeof o.out) && memchr(o.decode, '\0', sizeof o.decode));
        err.msg[0] = '\0';
        if (train_options_validate(&o, &err) != 0) check(err.msg[0] != '\0');
    }
    close(fd);
    return 0;
}
