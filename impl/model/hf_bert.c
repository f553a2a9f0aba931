/* hf_bert.c — Hugging Face BERT checkpoints in and out (hf_bert.h). */
#include "hf_bert.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "jsonr.h"

#include "conll.h"
#include "paths.h"
#include "safetensors.h"

/* ------------------------------------------------------------- name map */

/* Our tensor name (after "emb." / "layerN." / the head) -> HF name suffix.
 * The one table both directions use. */
static const struct {
    const char *ours, *hf;
} NAME_MAP[] = {
    {"emb.word", "embeddings.word_embeddings.weight"},
    {"emb.pos", "embeddings.position_embeddings.weight"},
    {"emb.type", "embeddings.token_type_embeddings.weight"},
    {"emb.ln.w", "embeddings.LayerNorm.weight"},
    {"emb.ln.b", "embeddings.LayerNorm.bias"},
    {"attn.out.w", "attention.output.dense.weight"},
    {"attn.out.b", "attention.output.dense.bias"},
    {"ln1.w", "attention.output.LayerNorm.weight"},
    {"ln1.b", "attention.output.LayerNorm.bias"},
    {"ffn.up.w", "intermediate.dense.weight"},
    {"ffn.up.b", "intermediate.dense.bias"},
    {"ffn.down.w", "output.dense.weight"},
    {"ffn.down.b", "output.dense.bias"},
    {"ln2.w", "output.LayerNorm.weight"},
    {"ln2.b", "output.LayerNorm.bias"},
    {"ner.w", "classifier.weight"},
    {"ner.b", "classifier.bias"},
    {"qa.w", "qa_outputs.weight"},
    {"qa.b", "qa_outputs.bias"},
};
static const char *const QKV_PARTS[3] = {"query", "key", "value"};

/* The HF names (without the "bert." prefix) that make up our tensor `ours`:
 * one, or three for the fused QKV projection (query, key, value rows).
 * Returns the number of parts, 0 if the name is not mapped. */
static int hf_names(const char *ours, char names[3][160]) {
    int layer = -1, used = 0;
    const char *rest = ours;
    if (sscanf(ours, "layer%d.%n", &layer, &used) == 1 && used > 0) rest = ours + used;
    if (layer >= 0 && (!strcmp(rest, "attn.qkv.w") || !strcmp(rest, "attn.qkv.b"))) {
        const char *wb = rest[9] == 'w' ? "weight" : "bias";
        for (int k = 0; k < 3; k++)
            snprintf(names[k], 160, "encoder.layer.%d.attention.self.%s.%s", layer, QKV_PARTS[k], wb);
        return 3;
    }
    for (size_t i = 0; i < sizeof NAME_MAP / sizeof NAME_MAP[0]; i++) {
        if (strcmp(NAME_MAP[i].ours, rest) != 0) continue;
        if (layer >= 0) snprintf(names[0], 160, "encoder.layer.%d.%s", layer, NAME_MAP[i].hf);
        else snprintf(names[0], 160, "%s", NAME_MAP[i].hf);
        return 1;
    }
    return 0;
}

static int is_head(const char *ours) { return model_name_is_head(ours); }

/* ------------------------------------------------------------ resolving */

static int is_dir(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

int hf_resolve(const char *init, char *dir, size_t n, Err *err) {
    char cfg[4200];
    if (!strcmp(init, HF_WEIGHTS_SHORT)) {
        if (dataset_path("weights/" HF_WEIGHTS_SHORT "/config.json", cfg, sizeof cfg, err))
            return err_set(err, "%s: the pretrained weights are not installed (run `make weights`): %.700s",
                           init, err->msg);
        char *slash = strrchr(cfg, '/');
        *slash = '\0';
        snprintf(dir, n, "%s", cfg);
        return 1;
    }
    if (!is_dir(init)) return 0;
    snprintf(cfg, sizeof cfg, "%s/config.json", init);
    struct stat sb;
    if (stat(cfg, &sb) != 0)
        return err_set(err, "%s: a directory without config.json (expected a Hugging Face BERT directory: config.json, model.safetensors, vocab.txt; or a checkpoint.bin file)",
                       init);
    snprintf(dir, n, "%s", init);
    return 1;
}

/* ----------------------------------------------------------- config.json */

static cJSON *read_json(const char *path, Err *err) {
    cJSON *j = jsonr_read_file(path, err);
    if (j && !cJSON_IsObject(j)) {
        err_set(err, "%s: not a JSON object", path);
        cJSON_Delete(j);
        j = NULL;
    }
    return j;
}

/* A size key, an integer in its config_bound range (config.c: the bounds
 * checkpoint.bin's config is held to too). */
static int json_size_key(const cJSON *o, const char *path, const char *key, int *out, Err *err) {
    const ConfigBound *b = config_bound(key);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v) return err_set(err, "%s: missing key \"%s\"", path, key);
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || v->valuedouble < b->lo ||
        v->valuedouble > b->hi)
        return err_set(err, "%s: \"%s\" must be an integer in [%d, %d]", path, key, b->lo, b->hi);
    *out = (int)v->valuedouble;
    return 0;
}

/* An optional string key that must equal `want` when present. */
static int json_str_is(const cJSON *o, const char *path, const char *key, const char *want,
                       const char *what, Err *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v) return 0;
    if (!cJSON_IsString(v) || strcmp(v->valuestring, want) != 0)
        return err_set(err, "%s: \"%s\" is %s, expected \"%s\" (%s)", path, key,
                       cJSON_IsString(v) ? v->valuestring : "not a string", want, what);
    return 0;
}

static int read_shape_keys(const cJSON *j, const char *path, ModelConfig *cfg, Err *err) {
    if (json_size_key(j, path, "num_hidden_layers", &cfg->L, err) ||
        json_size_key(j, path, "hidden_size", &cfg->C, err) ||
        json_size_key(j, path, "num_attention_heads", &cfg->NH, err) ||
        json_size_key(j, path, "intermediate_size", &cfg->FFN, err) ||
        json_size_key(j, path, "vocab_size", &cfg->V, err) ||
        json_size_key(j, path, "max_position_embeddings", &cfg->maxT, err) ||
        json_size_key(j, path, "type_vocab_size", &cfg->type_vocab, err))
        return -1;
    const cJSON *eps = cJSON_GetObjectItemCaseSensitive(j, "layer_norm_eps");
    if (eps && (!cJSON_IsNumber(eps) || !(eps->valuedouble > 0 && eps->valuedouble < 1)))
        return err_set(err, "%s: \"layer_norm_eps\" must be a number in (0, 1)", path);
    cfg->ln_eps = eps ? (float)eps->valuedouble : 1e-12f;
    const cJSON *ir = cJSON_GetObjectItemCaseSensitive(j, "initializer_range");
    cfg->init_std = cJSON_IsNumber(ir) && ir->valuedouble > 0 ? (float)ir->valuedouble : 0.02f;
    return 0;
}

static int check_architecture(const cJSON *j, const char *path, Err *err) {
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(j, "model_type");
    if (!mt) return err_set(err, "%s: missing key \"model_type\" (expected \"bert\")", path);
    if (json_str_is(j, path, "model_type", "bert", "only BERT checkpoints are supported", err) ||
        json_str_is(j, path, "hidden_act", "gelu", "the model computes the exact erf GELU", err) ||
        json_str_is(j, path, "position_embedding_type", "absolute",
                    "the model has learned absolute positions", err))
        return -1;
    const cJSON *pad = cJSON_GetObjectItemCaseSensitive(j, "pad_token_id");
    if (pad && !cJSON_IsNull(pad) && !(cJSON_IsNumber(pad) && pad->valuedouble == MODEL_PAD_ID))
        return err_set(err, "%s: \"pad_token_id\" must be %d (the [PAD] id the model keeps untrained)", path,
                       MODEL_PAD_ID);
    const cJSON *dec = cJSON_GetObjectItemCaseSensitive(j, "is_decoder");
    if (cJSON_IsTrue(dec)) return err_set(err, "%s: \"is_decoder\" is true (an encoder is needed)", path);
    return 0;
}

static void read_labels(const cJSON *j, HfInfo *info) {
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(j, "id2label");
    info->n_labels = 0;
    if (!cJSON_IsObject(m)) return;
    int n = cJSON_GetArraySize(m);
    if (n < 1 || n > 32) return;
    for (int id = 0; id < n; id++) {
        char key[16];
        snprintf(key, sizeof key, "%d", id);
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(m, key);
        if (!cJSON_IsString(v)) return; /* ids not 0..n-1: labels unknown */
        snprintf(info->labels[id], sizeof info->labels[id], "%s", v->valuestring);
    }
    info->n_labels = n;
}

int hf_read_tokenizer_config(const char *dir, HfInfo *info, Err *err) {
    char path[1200];
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    info->lower = 1;
    info->strip_accents = -1;
    struct stat sb;
    if (stat(path, &sb) != 0) return 0;
    cJSON *j = read_json(path, err);
    if (!j) return -1;
    const cJSON *lc = cJSON_GetObjectItemCaseSensitive(j, "do_lower_case");
    const cJSON *sa = cJSON_GetObjectItemCaseSensitive(j, "strip_accents");
    int rc = 0;
    if (lc && !cJSON_IsBool(lc)) rc = err_set(err, "%s: \"do_lower_case\" must be true or false", path);
    else if (sa && !cJSON_IsBool(sa) && !cJSON_IsNull(sa))
        rc = err_set(err, "%s: \"strip_accents\" must be true, false or null", path);
    if (lc && cJSON_IsBool(lc)) info->lower = cJSON_IsTrue(lc);
    if (sa && cJSON_IsBool(sa)) info->strip_accents = cJSON_IsTrue(sa);
    cJSON_Delete(j);
    return rc;
}

int hf_read_config(const char *dir, ModelConfig *cfg, HfInfo *info, Err *err) {
    memset(cfg, 0, sizeof *cfg);
    memset(info, 0, sizeof *info);
    snprintf(info->dir, sizeof info->dir, "%s", dir);
    char path[1200];
    snprintf(path, sizeof path, "%s/config.json", dir);
    cJSON *j = read_json(path, err);
    if (!j) return -1;
    int rc = check_architecture(j, path, err);
    if (rc == 0) rc = read_shape_keys(j, path, cfg, err);
    if (rc == 0) read_labels(j, info);
    cJSON_Delete(j);
    if (rc) return -1;
    snprintf(cfg->preset, sizeof cfg->preset, "hf");
    cfg->num_labels = NER_NUM_LABELS;
    cfg->heads = HEAD_ALL;
    cfg->p_drop = 0.1f;
    Err e;
    if (config_validate(cfg, &e)) return err_set(err, "%s: %s", path, e.msg);
    return hf_read_tokenizer_config(dir, info, err);
}

/* --------------------------------------------------------------- loading */

/* The file's tensor for an HF name, with or without the "bert." prefix
 * (LayerNorm's old gamma/beta names too). */
static const StTensor *find_hf(const SafeTensors *st, const char *name) {
    char buf[200];
    for (int pass = 0; pass < 2; pass++) {
        snprintf(buf, sizeof buf, "%s%s", pass ? "" : "bert.", name);
        const StTensor *t = st_find(st, buf);
        if (t) return t;
        const char *ln = strstr(buf, "LayerNorm.");
        if (!ln) continue;
        char old[200];
        const char *field = ln + 10;
        snprintf(old, sizeof old, "%.*s%s", (int)(field - buf), buf,
                 !strcmp(field, "weight") ? "gamma" : !strcmp(field, "bias") ? "beta" : field);
        t = st_find(st, old);
        if (t) return t;
    }
    return NULL;
}

static void shape_str(const int64_t *s, int nd, char *out, size_t n) {
    size_t k = (size_t)snprintf(out, n, "[");
    for (int i = 0; i < nd && k < n; i++) k += (size_t)snprintf(out + k, n - k, "%s%lld", i ? ", " : "", (long long)s[i]);
    if (k < n) snprintf(out + k, n - k, "]");
}

/* A tensor of the file as float32 into dst: F32/F16/BF16, every value finite. */
static int read_weights(const SafeTensors *st, const StTensor *t, float *dst, Err *err) {
    if (st_read_f32(st, t, dst, err)) return -1;
    return weights_check_finite(dst, (size_t)t->numel, st->path, t->name, "", err);
}

/* Copy the parts of our tensor p from the file into dst (= host + p->offset),
 * marking the file tensors used. Returns 1 if copied, 0 if a part is absent
 * (names[missing] set), -1 on a shape / dtype error. */
static int copy_parts(const SafeTensors *st, const ParamInfo *p, char names[3][160], int nparts,
                      float *dst, unsigned char *used, int *missing, Err *err) {
    int64_t rows = p->shape[0] / nparts, cols = p->ndim == 2 ? p->shape[1] : 1;
    for (int k = 0; k < nparts; k++) {
        const StTensor *t = find_hf(st, names[k]);
        if (!t) {
            *missing = k;
            return 0;
        }
        int64_t want[2] = {rows, cols};
        int ok = t->ndim == p->ndim && t->shape[0] == rows && (p->ndim == 1 || t->shape[1] == cols);
        if (!ok) {
            char a[64], b[64];
            shape_str(t->shape, t->ndim, a, sizeof a);
            shape_str(want, p->ndim, b, sizeof b);
            return err_set(err, "%s: tensor '%s' has shape %s, config.json implies %s", st->path,
                           t->name, a, b);
        }
        if (read_weights(st, t, dst + (size_t)k * (size_t)(rows * cols), err)) return -1;
        used[t - st->t] = 1;
    }
    return 1;
}

/* Rows of the file's classifier for our labels: perm[ours] = file row, from
 * id2label; -1 with a note when the labels are not our 9. */
static int label_perm(const HfInfo *info, int perm[NER_NUM_LABELS], char *note, size_t n) {
    if (info->n_labels != NER_NUM_LABELS) {
        snprintf(note, n, "classifier not loaded: id2label has %d labels, the NER head has %d (CoNLL-2003 IOB2)",
                 info->n_labels, NER_NUM_LABELS);
        return -1;
    }
    for (int i = 0; i < NER_NUM_LABELS; i++) {
        perm[i] = -1;
        for (int j = 0; j < info->n_labels; j++)
            if (!strcmp(info->labels[j], CONLL_LABELS[i])) perm[i] = j;
        if (perm[i] < 0) {
            snprintf(note, n, "classifier not loaded: id2label has no label '%s'", CONLL_LABELS[i]);
            return -1;
        }
    }
    return 0;
}

/* The file's head weight / bias when it fits the model's head: shapes, and
 * for NER the labels (perm); else NULL with a note saying why. */
static int head_fits(const StTensor *tw, const StTensor *tb, const char *bn, const ParamInfo *w,
                     const HfInfo *info, int perm[NER_NUM_LABELS], char *note, size_t nn) {
    int nlab = w->shape[0], C = w->shape[1];
    if (!tb) {
        snprintf(note, nn, "%s not loaded: the file has no %s", tw->name, bn);
        return 0;
    }
    if (tw->ndim != 2 || tw->shape[0] != nlab || tw->shape[1] != C || tb->ndim != 1 || tb->shape[0] != nlab) {
        snprintf(note, nn, "%s / %s not loaded: shapes [%lld, %lld] / [%lld], the head is [%d, %d] / [%d]",
                 tw->name, tb->name, (long long)tw->shape[0], (long long)(tw->ndim > 1 ? tw->shape[1] : 0),
                 (long long)(tb->ndim > 0 ? tb->shape[0] : 0), nlab, C, nlab);
        return 0;
    }
    if (w->name[0] == 'n') return label_perm(info, perm, note, nn) == 0;
    for (int i = 0; i < nlab; i++) perm[i] = i;
    return 1;
}

/* Load a head (ner / qa) into host when the file has it and it fits. A head
 * is optional: whatever does not fit (a missing bias, a shape, a dtype, the
 * labels) leaves it at its init, says why in rep->head_note, and its tensors
 * stay unused (listed as ignored). A head that fits but holds a value that is
 * not finite is an error (-1 with err). */
static int load_head(const SafeTensors *st, const HfInfo *info, const Model *m, const char *w_name,
                     float *host, unsigned char *used, HfLoadReport *rep, Err *err) {
    const ParamInfo *w = model_find_tensor(m, w_name);
    char bname[16], wn[3][160], bn[3][160];
    snprintf(bname, sizeof bname, "%.*s.b", (int)(strchr(w_name, '.') - w_name), w_name);
    const ParamInfo *b = model_find_tensor(m, bname);
    if (!w || !b) return 0; /* the model has no such head */
    hf_names(w_name, wn);
    hf_names(bname, bn);
    const StTensor *tw = find_hf(st, wn[0]), *tb = find_hf(st, bn[0]);
    int nlab = w->shape[0], C = w->shape[1], perm[NER_NUM_LABELS];
    if (!tw || !head_fits(tw, tb, bn[0], w, info, perm, rep->head_note, sizeof rep->head_note)) return 0;
    float *tmp_w = xmalloc(w->numel * sizeof(float)), *tmp_b = xmalloc(b->numel * sizeof(float));
    Err e;
    int rc = 0;
    if (st_read_f32(st, tw, tmp_w, &e) || st_read_f32(st, tb, tmp_b, &e)) {
        snprintf(rep->head_note, sizeof rep->head_note, "head not loaded: %.480s", e.msg);
    } else if (weights_check_finite(tmp_w, w->numel, st->path, tw->name, "", err) ||
               weights_check_finite(tmp_b, b->numel, st->path, tb->name, "", err)) {
        rc = -1;
    } else {
        for (int i = 0; i < nlab; i++) {
            memcpy(host + w->offset + (size_t)i * (size_t)C, tmp_w + (size_t)perm[i] * (size_t)C, (size_t)C * sizeof(float));
            host[b->offset + (size_t)i] = tmp_b[perm[i]];
        }
        used[tw - st->t] = used[tb - st->t] = 1;
        if (w_name[0] == 'n') rep->ner_head = 1;
        else rep->qa_head = 1;
    }
    free(tmp_w);
    free(tmp_b);
    return rc;
}

static void list_ignored(const SafeTensors *st, const unsigned char *used, HfLoadReport *rep) {
    size_t k = 0;
    for (int i = 0; i < st->n; i++) {
        if (used[i]) continue;
        rep->n_ignored++;
        if (k + strlen(st->t[i].name) + 8 < sizeof rep->ignored)
            k += (size_t)snprintf(rep->ignored + k, sizeof rep->ignored - k, "%s%s", k ? ", " : "", st->t[i].name);
        else if (k + 5 < sizeof rep->ignored && !strstr(rep->ignored, "..."))
            k += (size_t)snprintf(rep->ignored + k, sizeof rep->ignored - k, ", ...");
    }
}

static int load_encoder(const SafeTensors *st, const Model *m, float *host, unsigned char *used,
                        HfLoadReport *rep, Err *err) {
    for (int i = 0; i < model_num_tensors(m); i++) {
        const ParamInfo *p = model_tensor(m, i);
        if (is_head(p->name) || model_name_is_adapter(p->name)) continue; /* adapters keep their init */
        char names[3][160]; /* a QA layer copy reads the file's layer: both copies start equal */
        int nparts = hf_names(model_layer_name(p->name), names), missing = 0;
        if (nparts == 0) return err_set(err, "internal: tensor %s has no Hugging Face name", p->name);
        int rc = copy_parts(st, p, names, nparts, host + p->offset, used, &missing, err);
        if (rc < 0) return -1;
        if (rc == 0)
            return err_set(err, "%s: missing tensor '%s' (or 'bert.%s'), needed for %s", st->path,
                           names[missing], names[missing], p->name);
        rep->encoder_tensors++;
    }
    return 0;
}

int hf_load_weights(const HfInfo *info, Model *m, HfLoadReport *rep, Err *err) {
    memset(rep, 0, sizeof *rep);
    char path[1200];
    snprintf(path, sizeof path, "%s/model.safetensors", info->dir);
    SafeTensors st;
    if (st_open(path, &st, err)) return -1;
    size_t n = model_num_params(m);
    float *host = xmalloc(n * sizeof(float));
    unsigned char *used = xcalloc((size_t)st.n + 1, 1);
    model_params_to_host(m, host);
    int rc = load_encoder(&st, m, host, used, rep, err);
    if (rc == 0) rc = load_head(&st, info, m, "ner.w", host, used, rep, err);
    if (rc == 0) rc = load_head(&st, info, m, "qa.w", host, used, rep, err);
    if (rc == 0) {
        list_ignored(&st, used, rep);
        model_params_from_host(m, host);
    }
    free(used);
    free(host);
    st_close(&st);
    return rc;
}

/* ------------------------------------------------------------- exporting */

/* Shortest %g text of a float that reads back as the same float ("1e-12"). */
static cJSON *float_json(float f) {
    char buf[32];
    for (int prec = 6; prec <= 9; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, (double)f);
        if (strtof(buf, NULL) == f) break;
    }
    return cJSON_CreateRaw(buf);
}

static int write_json(cJSON *j, const char *path, Err *err) {
    char *s = cJSON_Print(j);
    size_t len = strlen(s);
    s = xrealloc(s, len + 2);
    s[len] = '\n';
    int rc = atomic_write_file(path, s, len + 1, err);
    free(s);
    return rc;
}

static cJSON *export_config(const ModelConfig *c, int task) {
    cJSON *j = cJSON_CreateObject();
    cJSON *arch = cJSON_AddArrayToObject(j, "architectures");
    cJSON_AddItemToArray(arch, cJSON_CreateString(task == TASK_NER ? "BertForTokenClassification"
                                                                   : "BertForQuestionAnswering"));
    cJSON_AddStringToObject(j, "model_type", "bert");
    cJSON_AddItemToObject(j, "attention_probs_dropout_prob", float_json(c->p_drop));
    cJSON_AddItemToObject(j, "hidden_dropout_prob", float_json(c->p_drop));
    cJSON_AddStringToObject(j, "hidden_act", "gelu");
    cJSON_AddNumberToObject(j, "hidden_size", c->C);
    cJSON_AddItemToObject(j, "initializer_range", float_json(c->init_std));
    cJSON_AddNumberToObject(j, "intermediate_size", c->FFN);
    cJSON_AddItemToObject(j, "layer_norm_eps", float_json(c->ln_eps));
    cJSON_AddNumberToObject(j, "max_position_embeddings", c->maxT);
    cJSON_AddNumberToObject(j, "num_attention_heads", c->NH);
    cJSON_AddNumberToObject(j, "num_hidden_layers", c->L);
    cJSON_AddNumberToObject(j, "pad_token_id", 0);
    cJSON_AddStringToObject(j, "position_embedding_type", "absolute");
    cJSON_AddNumberToObject(j, "type_vocab_size", c->type_vocab);
    cJSON_AddNumberToObject(j, "vocab_size", c->V);
    if (task == TASK_NER) {
        cJSON *id2 = cJSON_AddObjectToObject(j, "id2label"), *l2i = cJSON_AddObjectToObject(j, "label2id");
        for (int i = 0; i < NER_NUM_LABELS; i++) {
            char key[16];
            snprintf(key, sizeof key, "%d", i);
            cJSON_AddStringToObject(id2, key, CONLL_LABELS[i]);
            cJSON_AddNumberToObject(l2i, CONLL_LABELS[i], i);
        }
    }
    return j;
}

static cJSON *export_tokenizer_config(int lower, int strip_accents, int maxT) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "tokenizer_class", "BertTokenizer");
    cJSON_AddBoolToObject(j, "do_lower_case", lower);
    if (strip_accents < 0) strip_accents = lower; /* HF's None: as do_lower_case */
    if (strip_accents != lower) cJSON_AddBoolToObject(j, "strip_accents", strip_accents);
    else cJSON_AddNullToObject(j, "strip_accents");
    cJSON_AddBoolToObject(j, "tokenize_chinese_chars", 1);
    cJSON_AddNumberToObject(j, "model_max_length", maxT);
    cJSON_AddStringToObject(j, "unk_token", "[UNK]");
    cJSON_AddStringToObject(j, "sep_token", "[SEP]");
    cJSON_AddStringToObject(j, "pad_token", "[PAD]");
    cJSON_AddStringToObject(j, "cls_token", "[CLS]");
    cJSON_AddStringToObject(j, "mask_token", "[MASK]");
    return j;
}

/* The safetensors tensor list of one task: the encoder under "bert." (QKV
 * split into query / key / value) as this task sees it (the shared layers,
 * then its own copy of the top layers: a QA copy "qa.layer{l}" becomes
 * encoder.layer.{l}; its LoRA adapters already merged into host) and the
 * task's head. */
static int export_tensors(const Model *m, int task, const float *host, StOut *out,
                          char (*names)[168]) {
    int n = 0;
    for (int i = 0; i < model_num_tensors(m); i++) {
        const ParamInfo *p = model_tensor(m, i);
        if (p->task >= 0 && p->task != task) continue; /* the other task's head or layer copy */
        if (model_name_is_adapter(p->name)) continue;   /* merged into the weights (hf_export_task) */
        char hf[3][160];
        int nparts = hf_names(model_layer_name(p->name), hf);
        int rows = p->shape[0] / nparts, cols = p->ndim == 2 ? p->shape[1] : 1;
        for (int k = 0; k < nparts; k++, n++) {
            snprintf(names[n], 168, "%s%.160s", is_head(p->name) ? "" : "bert.", hf[k]);
            out[n] = (StOut){names[n], host + p->offset + (size_t)k * (size_t)rows * (size_t)cols,
                             p->ndim, {rows, cols}};
        }
    }
    return n;
}

static int copy_file(const char *src, const char *dst, Err *err) {
    size_t len;
    char *buf = read_file_all(src, &len, err);
    if (!buf) return -1;
    int rc = atomic_write_file(dst, buf, len, err);
    free(buf);
    return rc;
}

int hf_write_tokenizer_files(const char *out_dir, const char *vocab_path, int lower,
                             int strip_accents, int maxT, Err *err) {
    char p[1200];
    cJSON *j = export_tokenizer_config(lower, strip_accents, maxT);
    snprintf(p, sizeof p, "%s/tokenizer_config.json", out_dir);
    int rc = write_json(j, p, err);
    cJSON_Delete(j);
    snprintf(p, sizeof p, "%s/vocab.txt", out_dir);
    return rc ? rc : copy_file(vocab_path, p, err);
}

int hf_export_task(const Model *m, int task, const char *vocab_path, int lower, int strip_accents,
                   const char *out_dir, Err *err) {
    const ModelConfig *c = model_config(m);
    if (!model_find_tensor(m, task == TASK_NER ? "ner.w" : "qa.w"))
        return err_set(err, "export: the model has no %s head", task == TASK_NER ? "NER" : "QA");
    if (mkdir_p(out_dir, err)) return -1;
    float *host = xmalloc(model_num_params(m) * sizeof(float));
    model_params_to_host(m, host);
    model_merge_adapters(m, task, host);
    int cap = 3 * model_num_tensors(m);
    StOut *out = xmalloc((size_t)cap * sizeof *out);
    char (*names)[168] = xmalloc((size_t)cap * sizeof *names);
    int n = export_tensors(m, task, host, out, names);
    char p[1200];
    snprintf(p, sizeof p, "%s/model.safetensors", out_dir);
    int rc = st_write_f32(p, out, n, err);
    cJSON *j = export_config(c, task);
    snprintf(p, sizeof p, "%s/config.json", out_dir);
    if (rc == 0) rc = write_json(j, p, err);
    cJSON_Delete(j);
    if (rc == 0) rc = hf_write_tokenizer_files(out_dir, vocab_path, lower, strip_accents, c->maxT, err);
    free(names);
    free(out);
    free(host);
    return rc;
}
