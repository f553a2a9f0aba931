/* train.h — the training harness behind `mtl train`: options, one run into a
 * run directory, multi-seed aggregation.
 *
 * A run directory holds (all written atomically):
 *   config.json    every option of the run (resolved)
 *   manifest.json  build, machine, data sha256, seeds, times (manifest.h)
 *   log.csv        step,task,loss_ner,loss_qa,lr,grad_norm,tokens_per_s,wall_s
 *   gradnorm.csv   with --loss-weighting gradnorm: step,w_ner,w_qa (the
 *                  weights used in that step),G_ner,G_qa,r_ner,r_qa,L_grad,
 *                  m_ner,m_qa,v_ner,v_qa (Adam moments of the weights after it)
 *   weights.csv    with --loss-weighting uncertainty: step,w_ner,w_qa (the
 *                  weights used in that step),s_ner,s_qa,m_ner,m_qa,v_ner,v_qa
 *                  (the log-variances and their Adam moments after it); with
 *                  dwa: step,w_ner,w_qa,r_ner,r_qa (the ratios behind w from
 *                  the third period on; 1 until a task has one),
 *                  Lbar_ner,Lbar_qa (the mean losses of the period that ends
 *                  at that step; empty elsewhere or for a task absent from it)
 *   eval.csv       step,split,task,n,loss,f1,em (dev evaluations during training
 *                  on n sentences / questions, then the final dev / test ones)
 *   metrics.json   final NER (dev, test) and QA (dev) metrics (no wall-clock
 *                  values: bitwise reproducible)
 *   timing.json    training and final-evaluation wall seconds
 *   params.json    parameter counts and bytes (total, shared, per task)
 *   memory.json    peak RSS and param / grad / optimiser / activation bytes
 *   checkpoint.bin last checkpoint (checkpoint.h)
 *   predictions/   ner_{dev,test}.conlleval.txt, qa_dev_predictions.json
 */
#ifndef MTL_TRAIN_H
#define MTL_TRAIN_H

#include <stdint.h>

#include "model.h"
#include "ner_decode.h"
#include "opts.h"
#include "optim.h"
#include "sampler.h"
#include "util.h"

/* --loss-weighting: the task weights of a multi-task step. */
typedef enum {
    LOSS_WEIGHTING_STATIC = 0,
    LOSS_WEIGHTING_GRADNORM = 1,
    LOSS_WEIGHTING_UNCERTAINTY = 2,
    LOSS_WEIGHTING_DWA = 3,
} LossWeighting;
/* Their words: static (the lambdas), gradnorm (learned, gradnorm.h),
 * uncertainty and dwa (learned, loss_weighting.h). */
extern const EnumName LOSS_WEIGHTING_NAMES[];

typedef struct {
    /* what to train */
    int tasks;           /* --task: 1 << TASK_NER | 1 << TASK_QA (TASK_SET_NAMES: ner, qa, mtl) */
    char preset[32];     /* config.h presets */
    char init[1024];     /* --init CHECKPOINT ("" = random init) */
    char out[1024];      /* run directory */
    long long seed;
    char seeds[256];     /* "1,2,3": several runs into out/seed-S + aggregate */
    int shared_layers;   /* --shared-layers K: layers both tasks share (the rest: one copy
                            per task); -1 = all (K = L, hard sharing; the trainer turns a
                            given K = L into -1, so that such a run is today's run) */
    int freeze_encoder;  /* --freeze-encoder: train the heads only (and LoRA adapters) */
    int lora_rank;       /* --lora-rank r: per-task LoRA adapters on a frozen encoder; 0 = none */
    float lora_alpha;    /* --lora-alpha: the adapters' scale is alpha / r */
    char lora_targets[64]; /* --lora-targets: comma list of qkv, out, ffn */
    /* optimiser and schedule */
    AdamWParams adamw;   /* --lr (the peak), --weight-decay, --beta1, --beta2, --adam-eps, --clip */
    float dropout;
    int warmup;          /* warmup steps (used when warmup_ratio < 0) */
    float warmup_ratio;  /* >= 0: warmup = round(ratio * total steps) */
    int batch;
    int epochs;
    long max_steps;      /* > 0 overrides epochs */
    /* multi-task */
    float lambda[NUM_TASKS]; /* loss weights (--lambda-ner, --lambda-qa) */
    Sampling sampling;
    float temperature;
    LossWeighting loss_weighting;
    float gradnorm_alpha, gradnorm_lr;
    char gradnorm_layer[40]; /* shared tensor W ("" = the last shared layer's ffn.down.w) */
    float uncertainty_lr;    /* Adam's lr of the log-variances s_i */
    float dwa_temperature;   /* T of DWA's softmax */
    long dwa_period;         /* DWA's averaging period in steps (-1 = one epoch) */
    /* data */
    int ner_train_limit; /* first N sentences (0 = all) */
    int qa_train_limit;  /* first N questions (0 = all) */
    int eval_limit;      /* first N sentences / questions of dev evaluations during training */
    int qa_dev_limit;    /* final QA evaluation on the first N dev questions (0 = all
                            10,570); NER is always scored on the full dev and test sets */
    int seq_ner, seq_qa, stride, max_query;
    NerDecode decode;
    /* schedule of side work */
    long eval_every;     /* dev evaluation every N steps (0 = each epoch, -1 = never) */
    long save_every;     /* checkpoint every N steps (0 = only at the end) */
    int log_every;       /* progress line on stderr every N steps */
    int resume;          /* continue from out/checkpoint.bin */
    int overwrite;       /* replace the run in out (cleared once every check passed) */
    long stop_after;     /* stop after N steps without finishing (simulated interruption) */
    /* machine */
    int threads;
    Device device;
    int tf32;
    Precision precision; /* fp32 | bf16 (kernels/backend.h) */
    int attention;       /* ATTENTION_NAMES: 0 store, 1 recompute (backend_set_attn_recompute) */
    int no_test;         /* skip the final test-set evaluation */
    int profile;         /* per-op time breakdown of the training loop on stderr */
    int quiet;           /* no progress lines on stderr (errors still reported) */
    char config_file[1024];
    char dump_batches[1024]; /* write every batch (and the initial heads) to this safetensors file */
    int group_by_length; /* length-grouped batches (sampler.h order_group_by_length) */
    int no_overlap;      /* data parallel: sum the gradients after the backward, not during it */
} TrainOptions;

/* The defaults of every option (the optimiser's: adamw_defaults()). */
void train_options_default(TrainOptions *o);
/* The options of `mtl train` (impl/base/opts.h), over TrainOptions; `mtl eval`
 * borrows some of them. */
const OptTable *train_option_table(void);
/* Parse `mtl train` arguments (argv[0] is "train"): --config FILE is read
 * first (key=value lines or one JSON object), then the flags override it.
 * Returns 0, 1 for --help (nothing parsed), or -1 with err. */
int train_options_parse(TrainOptions *o, int argc, char **argv, Err *err);
/* Read a config file (key=value lines or one JSON object) into o: 0 or -1 with err. */
int train_options_load_file(TrainOptions *o, const char *path, Err *err);
/* Consistency checks (ranges, names). */
int train_options_validate(const TrainOptions *o, Err *err);
/* --shared-layers against the model's L and tasks: 0 <= K <= L, and K < L
 * only with --task mtl; 0 or -1 with err naming the option and its range. */
int train_check_shared_layers(const TrainOptions *o, int L, Err *err);
#define TRAIN_MAX_SEED 1000000000000000000LL /* --seed's and --seeds' upper bound (1e18) */
#define TRAIN_MAX_SEEDS 64
/* --seeds "1,2,3" -> distinct seeds in [0, TRAIN_MAX_SEED]; returns the count
 * or -1 with err (train_options_validate checks it too). */
int train_seed_list(const char *s, long long out[TRAIN_MAX_SEEDS], Err *err);
/* mtl train --help. */
void train_options_usage(FILE *f);
/* "key=value\n" for every option that changes the training trajectory
 * (compared on --resume); caller frees. */
char *train_options_canonical(const TrainOptions *o);
/* config.json of a run. */
int train_options_write_json(const TrainOptions *o, const char *path, Err *err);

/* Final figures of one run (also the input of the multi-seed aggregate). */
typedef struct {
    long long seed;
    long steps;
    double train_wall_s;
    double final_loss_ner, final_loss_qa; /* mean of the last 10% of steps, NaN if absent */
    double ner_dev_f1, ner_test_f1, ner_dev_macro_f1, ner_test_macro_f1;
    double qa_dev_em, qa_dev_f1;
    double peak_rss_bytes;
    double params_total;
    int stop_signal; /* train_run failed because this signal stopped it (checkpoint written) */
} RunSummary;

/* Train one run with o->seed into o->out. Returns 0, or -1 with err
 * (bad data, non-finite loss, write failure, ...). */
int train_run(const TrainOptions *o, int argc, char **argv, RunSummary *sum, Err *err);
/* Every figure NaN (not computed: null in aggregate.json), the seed set. */
void run_summary_init(RunSummary *s, long long seed);
/* The summary of a finished run directory (metrics, timing, memory, params .json). */
int train_summary_from_dir(const char *dir, RunSummary *sum, Err *err);

/* out/aggregate.json: mean, sample std, n and the values of each summary
 * field over the runs. */
int train_write_aggregate(const char *path, const TrainOptions *o, const RunSummary *runs, int n,
                          Err *err);

#endif
