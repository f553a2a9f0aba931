#include <stdio.h>

#include "buildinfo.h"
#include "cli.h"
#include "dist.h"
#include "tokenizer.h"

int cmd_version(int argc, char **argv) {
    if (argc > 1) {
        fprintf(stderr, "mtl version: unknown argument '%s' (it takes none)\n", argv[1]);
        return 2;
    }
    printf("mtl-bench\ncommit:   %s\ncompiler: %s\ncflags:   %s\nblas:     %s\ncuda:     %s\nmpi:      %s\nunicode:  %s\n",
           build_git_commit(), build_compiler(), build_cflags(), build_blas(),
           build_has_cuda() ? "built in" : "not built", dist_build(), tokenizer_unicode_info());
    return 0;
}
