/* model_open.c — open a run directory or a Hugging Face directory (model_open.h). */
#include "model_open.h"

#include <string.h>
#include <sys/stat.h>

#include "checkpoint.h"
#include "hf_bert.h"
#include "paths.h"

static int check_vocab(ModelOpen *mo, Err *err) {
    return vocab_check_rows(mo->vocab, mo->vocab_path, model_config(mo->m)->V, !strcmp(mo->kind, "hf"), err);
}

static int clamp_T(const ModelConfig *cfg, int maxT) {
    return maxT <= 0 || maxT > cfg->maxT ? cfg->maxT : maxT;
}

typedef struct {
    Backend *be;
    int maxB, maxT;
} InferSize;

/* The inference model a checkpoint's config describes (checkpoint_open_model) */
static Model *make_inference(const ModelConfig *cfg, void *ctx, Err *err) {
    const InferSize *z = ctx;
    return model_create_inference(cfg, z->be, z->maxB, clamp_T(cfg, z->maxT), err);
}

/* A run directory: config and parameters from the checkpoint (read once),
 * the run's own vocab copy (runs older than that copy used the default
 * bert-base-uncased vocab). */
static int open_run(const char *dir, Backend *be, int maxB, int maxT, ModelOpen *mo, Err *err) {
    char ckpt[1200];
    snprintf(ckpt, sizeof ckpt, "%s/checkpoint.bin", dir);
    InferSize z = {be, maxB, maxT};
    if (checkpoint_open_model(ckpt, make_inference, &z, &mo->m, err)) return -1;
    HfInfo tok;
    if (hf_read_tokenizer_config(dir, &tok, err)) return -1;
    snprintf(mo->vocab_path, sizeof mo->vocab_path, "%s/vocab.txt", dir);
    if (!file_exists(mo->vocab_path) && vocab_path(mo->vocab_path, sizeof mo->vocab_path, err)) return -1;
    const ModelConfig *cfg = model_config(mo->m);
    mo->ner_head_trained = (cfg->heads & HEAD_NER) != 0;
    mo->qa_head_trained = (cfg->heads & HEAD_QA) != 0;
    mo->vocab = vocab_load(mo->vocab_path, err);
    if (!mo->vocab) return -1;
    vocab_set_case(mo->vocab, tok.lower, tok.strip_accents);
    snprintf(mo->kind, sizeof mo->kind, "run");
    return check_vocab(mo, err);
}

static int open_hf(const char *dir, Backend *be, int maxB, int maxT, uint64_t seed, ModelOpen *mo,
                   Err *err) {
    ModelConfig cfg;
    HfInfo info;
    if (hf_read_config(dir, &cfg, &info, err)) return -1;
    cfg.p_drop = 0.0f;
    mo->m = model_create_inference(&cfg, be, maxB, clamp_T(&cfg, maxT), err);
    if (!mo->m) return -1;
    model_init(mo->m, seed);
    HfLoadReport rep;
    if (hf_load_weights(&info, mo->m, &rep, err)) return -1;
    mo->ner_head_trained = rep.ner_head;
    mo->qa_head_trained = rep.qa_head;
    snprintf(mo->vocab_path, sizeof mo->vocab_path, "%s/vocab.txt", dir);
    mo->vocab = vocab_load(mo->vocab_path, err);
    if (!mo->vocab) return -1;
    vocab_set_case(mo->vocab, info.lower, info.strip_accents);
    snprintf(mo->kind, sizeof mo->kind, "hf");
    return check_vocab(mo, err);
}

/* Is there an entry named path (a file, a directory, a FIFO, a dangling link)?
 * A run directory's checkpoint.bin that is not a regular file is refused by
 * the checkpoint reader naming it, not taken for a Hugging Face directory. */
static int entry_exists(const char *path) {
    struct stat sb;
    return lstat(path, &sb) == 0;
}

int model_open(const char *src, Backend *be, int maxB, int maxT, uint64_t seed, ModelOpen *mo,
               Err *err) {
    memset(mo, 0, sizeof *mo);
    char ckpt[1200], hf[1024];
    snprintf(ckpt, sizeof ckpt, "%s/checkpoint.bin", src);
    int rc;
    if (entry_exists(ckpt)) {
        snprintf(mo->dir, sizeof mo->dir, "%s", src);
        rc = open_run(src, be, maxB, maxT, mo, err);
    } else {
        int is_hf = hf_resolve(src, hf, sizeof hf, err);
        if (is_hf == 0)
            err_set(err, "%s: neither a run directory (no checkpoint.bin) nor a Hugging Face BERT directory (config.json, model.safetensors, vocab.txt)",
                    src);
        rc = is_hf == 1 ? 0 : -1;
        if (rc == 0) {
            snprintf(mo->dir, sizeof mo->dir, "%s", hf);
            rc = open_hf(hf, be, maxB, maxT, seed, mo, err);
        }
    }
    if (rc) model_open_free(mo);
    return rc;
}

void model_open_free(ModelOpen *mo) {
    if (mo->m) model_free(mo->m);
    if (mo->vocab) vocab_free(mo->vocab);
    mo->m = NULL;
    mo->vocab = NULL;
}
