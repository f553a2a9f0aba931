/* main.c — build/mtl: one program, many subcommands. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "dist.h"

/* Add a subcommand: declare it in cli.h, implement it in impl/cmd_<name>.c,
 * and add one line here. Keep the list sorted by workflow, not alphabet. */
static const Command COMMANDS[] = {
    {"version", cmd_version, "print the build: git commit, compiler, flags, BLAS"},
    {"train", cmd_train, "train NER / QA / multi-task into a run directory (mtl train --help)"},
    {"eval", cmd_eval, "score a run or a fine-tuned Hugging Face checkpoint on CoNLL dev/test and SQuAD dev, as train does"},
    {"predict", cmd_predict, "entities and answers for your own text (JSON lines in, JSON lines out)"},
    {"bench-predict", cmd_bench_predict, "inference latency (batch 1) and throughput of predict on CoNLL test / SQuAD dev"},
    {"export", cmd_export, "a run's model as Hugging Face BertForTokenClassification / BertForQuestionAnswering dirs"},
    {"dump-forward", cmd_dump_forward, "encoder output + logits of a model on real CoNLL / SQuAD windows (for reference/hf_check.py)"},
    {"tokenize", cmd_tokenize, "WordPiece-tokenize stdin lines (BERT uncased, = HF fast)"},
    {"data-stats", cmd_data_stats, "CoNLL-2003 counts (docs, sentences, tokens, entities) + WordPiece windows"},
    {"prep-squad", cmd_prep_squad, "featurise a SQuAD file into run_qa windows; examples/s"},
    {"bench-kernels", cmd_bench_kernels, "time every backend op at one training step's shapes vs peaks"},
    {"bench-step", cmd_bench_step, "time whole training steps (random data): ms/step, GFLOP/s vs sgemm peak, per-op"},
    {"model-info", cmd_model_info, "parameter counts per group and training memory of a preset"},
    {"score-squad", cmd_score_squad, "official SQuAD EM/F1 (+BLEU-4, ROUGE-L) of a predictions file"},
    {"score-ner", cmd_score_ner, "conlleval.pl chunk P/R/FB1 of a 'token gold pred' file (--json)"},
};

static void usage(FILE *f) {
    fprintf(f,
            "usage: mtl <command> [options]   (mtl <command> --help for its options)\n\n"
            "commands:\n");
    for (size_t i = 0; i < sizeof COMMANDS / sizeof COMMANDS[0]; i++)
        fprintf(f, "  %-16s %s\n", COMMANDS[i].name, COMMANDS[i].summary);
}

static int dispatch(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    for (size_t i = 0; i < sizeof COMMANDS / sizeof COMMANDS[0]; i++)
        if (!strcmp(argv[1], COMMANDS[i].name)) return COMMANDS[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "mtl: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}

/* Under mpirun every rank runs the same command; only `train` is data
 * parallel (impl/train/dist.h), so the others refuse to run as several ranks. */
int main(int argc, char **argv) {
    if (dist_init(&argc, &argv)) return 2;
    int rc;
    if (dist_size() > 1 && (argc < 2 || strcmp(argv[1], "train"))) {
        if (dist_rank() == 0)
            fprintf(stderr, "mtl: only `mtl train` runs as several MPI ranks (this is %d ranks of '%s'); "
                            "run other commands without mpirun\n", dist_size(), argc > 1 ? argv[1] : "");
        rc = 2;
    } else {
        rc = dispatch(argc, argv);
    }
    if (rc != 0 && dist_size() > 1 && !dist_collective_failure()) dist_abort(rc); /* no rank left waiting */
    dist_finalize();
    return rc;
}
