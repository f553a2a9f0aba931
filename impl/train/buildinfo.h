/* buildinfo.h — what this binary is: recorded in every run's manifest. */
#ifndef MTL_BUILDINFO_H
#define MTL_BUILDINFO_H

const char *build_git_commit(void); /* "<sha>[-dirty]" at build time */
const char *build_compiler(void);   /* e.g. "gcc 12.2.0" */
const char *build_cflags(void);
const char *build_blas(void); /* OpenBLAS config string and core */
int build_has_cuda(void);

#endif
