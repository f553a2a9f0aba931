#include "paths.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int try_path(char *out, size_t outlen, const char *dir, const char *rel, const char *suffix) {
    snprintf(out, outlen, "%s/%s%s", dir, rel, suffix);
    return access(out, R_OK) == 0;
}

int dataset_path(const char *rel, char *out, size_t outlen, Err *err) {
    const char *env = getenv("DATASETS_DIR");
    const char *dirs[3] = {env && *env ? env : NULL, "datasets/data", "../shared/datasets"};
    const char *suffixes[2] = {"", ".gz"};
    for (int d = 0; d < 3; d++) {
        if (!dirs[d]) continue;
        for (int s = 0; s < 2; s++)
            if (try_path(out, outlen, dirs[d], rel, suffixes[s])) return 0;
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
