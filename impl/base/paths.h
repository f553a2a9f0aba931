/* paths.h — where data lives: $DATASETS_DIR, else datasets/data/, else
 * ../shared/datasets/ (relative to the current directory). */
#ifndef MTL_PATHS_H
#define MTL_PATHS_H

#include <stddef.h>

#include "util.h"

/* Resolve a dataset file such as "conll2003/train.txt" or
 * "squad/dev-v1.1.json" (also tries the name + ".gz"). Writes the first
 * existing path into out. Returns 0, or -1 with err listing every place
 * tried and how to get the data (make datasets). */
int dataset_path(const char *rel, char *out, size_t outlen, Err *err);

/* The bert-base-uncased vocab: $MTL_VOCAB, else datasets/data/vocab/,
 * else ../shared/vocab/ (file bert-base-uncased-vocab.txt). */
int vocab_path(char *out, size_t outlen, Err *err);

#endif
