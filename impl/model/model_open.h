/* model_open.h — a trained or pretrained model ready to run: from a run
 * directory (checkpoint.bin + the vocab.txt / tokenizer_config.json the run
 * kept) or from a Hugging Face BERT directory (or the short name minilm-l6).
 * Used by `mtl export`, `mtl dump-forward`, `mtl eval`, `mtl predict`: the
 * model is forward-only (model_create_inference: no gradients or Adam state).
 *
 * A directory with an entry named checkpoint.bin is a run directory, whatever
 * the entry is (a directory, FIFO or link to a device is refused naming it).
 * Weights that are not finite are refused (checkpoint.h, hf_bert.h).
 *
 * Contract: returns 0 and fills *mo, or -1 with err (nothing allocated). */
#ifndef MTL_MODEL_OPEN_H
#define MTL_MODEL_OPEN_H

#include "backend.h"
#include "model.h"
#include "tokenizer.h"
#include "util.h"

typedef struct {
    Model *m;
    Vocab *vocab;
    char vocab_path[1200];
    char kind[8];        /* "run" or "hf" */
    char dir[1024];      /* the directory read */
    int ner_head_trained, qa_head_trained; /* 0: random init (an HF file without it) */
} ModelOpen;

/* maxB / maxT size the activation buffers (maxT <= the model's positions;
 * 0 means all positions). seed initialises heads an HF file lacks. */
int model_open(const char *src, Backend *be, int maxB, int maxT, uint64_t seed, ModelOpen *mo,
               Err *err);
void model_open_free(ModelOpen *mo);

#endif
