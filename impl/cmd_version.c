#include <stdio.h>

#include "buildinfo.h"
#include "cli.h"

int cmd_version(int argc, char **argv) {
    (void)argc;
    (void)argv;
    printf("mtl-bench\ncommit:   %s\ncompiler: %s\ncflags:   %s\nblas:     %s\ncuda:     %s\n",
           build_git_commit(), build_compiler(), build_cflags(), build_blas(),
           build_has_cuda() ? "built in" : "not built");
    return 0;
}
