#include "paths.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* 1: dir/rel+suffix is readable; 0: it is not there; -1: it is there but
 * cannot be read (err says so: a permission problem is not "not found"). */
static int try_path(char *out, size_t outlen, const char *dir, const char *rel, const char *suffix,
                    Err *err) {
    snprintf(out, outlen, "%s/%s%s", dir, rel, suffix);
    if (access(out, R_OK) == 0) return 1;
    if (errno == ENOENT || errno == ENOTDIR || access(out, F_OK) != 0) return 0;
    return err_set(err, "dataset file %s: cannot read it: %s", out, strerror(errno));
}

int dataset_path(const char *rel, char *out, size_t outlen, Err *err) {
    const char *env = getenv("DATASETS_DIR");
    const char *dirs[3] = {env && *env ? env : NULL, "datasets/data", "../shared/datasets"};
    const char *suffixes[2] = {"", ".gz"};
    for (int d = 0; d < 3; d++) {
        if (!dirs[d]) continue;
        for (int s = 0; s < 2; s++) {
            int found = try_path(out, outlen, dirs[d], rel, suffixes[s], err);
            if (found) return found > 0 ? 0 : -1;
        }
    }
    return err_set(err,
                   "dataset file '%s' not found (tried $DATASETS_DIR=%s, datasets/data/, "
                   "../shared/datasets/, each also with .gz). Get the data with `make datasets` "
                   "(runs datasets/fetch.sh) or point DATASETS_DIR at a copy.",
                   rel, env && *env ? env : "(unset)");
}

int vocab_path(char *out, size_t outlen, Err *err) {
    const char *env = getenv("MTL_VOCAB");
    if (env && *env) {
        snprintf(out, outlen, "%s", env);
        if (access(out, R_OK) == 0) return 0;
        return err_set(err, "$MTL_VOCAB=%s: not readable", env);
    }
    const char *cands[2] = {"datasets/data/vocab/bert-base-uncased-vocab.txt",
                            "../shared/vocab/bert-base-uncased-vocab.txt"};
    for (int i = 0; i < 2; i++) {
        snprintf(out, outlen, "%s", cands[i]);
        if (access(out, R_OK) == 0) return 0;
    }
    return err_set(err, "bert-base-uncased vocab.txt not found (tried $MTL_VOCAB, %s, %s); "
                        "get it with `make datasets`", cands[0], cands[1]);
}
