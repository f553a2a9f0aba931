/* fuzz_squad.c — libFuzzer target: SQuAD loading from a memory buffer, and
 * everything downstream of a successful load.
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -std=c11 -D_GNU_SOURCE \
 *     -Iimpl -I/usr/include/cjson fuzz/fuzz_squad.c impl/data/squad.c impl/data/squad_feat.c \
 *     impl/metrics/squad_eval.c impl/metrics/qa_decode.c impl/data/tokenizer.c impl/base/paths.c impl/base/util.c \
 *     -lcjson -lutf8proc -lz -lm -o build/fuzz_squad
 *   build/fuzz_squad -max_total_time=60 tests/fixtures/
 *
 * The same bytes are also read as a predictions file. When the BERT vocab is
 * found (paths.h rules), valid documents are featurised (small windows so
 * that long contexts split) and decoded from all-zero logits. */
#include <stdint.h>
#include <stdlib.h>

#include "paths.h"
#include "qa_decode.h"
#include "squad.h"
#include "squad_eval.h"

static Vocab *fuzz_vocab; /* loaded once; read-only afterwards */

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    char path[4096];
    Err err;
    if (vocab_path(path, sizeof path, &err) == 0) fuzz_vocab = vocab_load(path, &err);
    return 0;
}

static void featurize_and_decode(const SquadDataset *ds) {
    SquadFeatParams fp;
    squad_feat_defaults(&fp);
    fp.max_seq = 48;
    fp.doc_stride = 8;
    fp.max_query = 16;
    SquadFeatures fs;
    Err err;
    if (squad_featurize(ds, fuzz_vocab, &fp, &fs, &err)) return;
    float *logits = calloc((size_t)fs.n * (size_t)fs.max_seq + 1, sizeof *logits);
    QaDecodeParams dp;
    qa_decode_defaults(&dp);
    dp.version2 = ds->is_v2;
    SquadPredictions p;
    squad_predictions_init(&p);
    qa_decode(ds, &fs, logits, logits, &dp, &p, &err);
    SquadMetrics m;
    squad_evaluate(ds, 0, &p, NULL, &m, &err);
    squad_predictions_free(&p);
    free(logits);
    squad_features_free(&fs);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    SquadDataset ds;
    SquadPredictions p;
    SquadMetrics m;
    Err err;
    int have_preds = squad_predictions_parse((const char *)data, size, "fuzz", &p, &err) == 0;
    if (squad_parse((const char *)data, size, "fuzz", &ds, &err) == 0) {
        SquadPredictions none;
        squad_predictions_init(&none);
        squad_evaluate(&ds, 0, have_preds ? &p : &none, NULL, &m, &err);
        if (fuzz_vocab) featurize_and_decode(&ds);
        squad_free(&ds);
    }
    if (have_preds) {
        for (int i = 0; i < p.n; i++) free(squad_normalize_answer(p.text[i]));
        squad_predictions_free(&p);
    }
    return 0;
}
