#include <stdio.h>

#include "buildinfo.h"
#include "cli.h"
#include "dist.h"
#include "opts.h"
#include "tokenizer.h"

static const OptTable VERSION_TABLE = {
    .cmd = "version",
    .synopsis = "usage: mtl version",
    .about = "Prints the build: git commit, compiler, flags, BLAS, CUDA, MPI, Unicode tables.\n",
};

int cmd_version(int argc, char **argv) {
    int rc = opts_command(&VERSION_TABLE, NULL, argc, argv, NULL);
    if (rc >= 0) return rc;
    printf("mtl-bench\ncommit:   %s\ncompiler: %s\ncflags:   %s\nblas:     %s\ncuda:     %s\nmpi:      %s\nunicode:  %s\n",
           build_git_commit(), build_compiler(), build_cflags(), build_blas(),
           build_has_cuda() ? "built in" : "not built", dist_build(), tokenizer_unicode_info());
    return 0;
}
