/* cli.h — the subcommands of build/mtl. Each lives in impl/cmd_<name>.c,
 * describes its options in one table read by the options engine
 * (impl/base/opts.h: parser, --help, messages) and returns the process exit
 * status (0 ok, 1 bad input/runtime error, 2 usage). */
#ifndef MTL_CLI_H
#define MTL_CLI_H

typedef int (*CommandFn)(int argc, char **argv);

typedef struct {
    const char *name;
    CommandFn fn;
    const char *summary;
} Command;

int cmd_version(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_prep_squad(int argc, char **argv);
int cmd_bench_kernels(int argc, char **argv);
int cmd_bench_step(int argc, char **argv);
int cmd_model_info(int argc, char **argv);
int cmd_score_squad(int argc, char **argv);
int cmd_score_ner(int argc, char **argv);
int cmd_data_stats(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_dump_forward(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_predict(int argc, char **argv);
int cmd_bench_predict(int argc, char **argv);

#endif
