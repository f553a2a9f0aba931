#define _XOPEN_SOURCE 700 /* nftw */
#include "testutil.h"

#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int testutil_run_all(void) {
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_tests_failed();
    unsigned fails = CU_get_number_of_failures();
    CU_cleanup_registry();
    return (failed || fails) ? 1 : 0;
}

void testutil_add_suite(const char *name, const TestCase *tests) {
    if (CU_get_registry() == NULL && CU_initialize_registry() != CUE_SUCCESS) {
        fprintf(stderr, "CUnit: cannot initialise registry\n");
        exit(2);
    }
    CU_pSuite s = CU_add_suite(name, NULL, NULL);
    if (!s) {
        fprintf(stderr, "CUnit: cannot add suite %s\n", name);
        exit(2);
    }
    for (const TestCase *t = tests; t->name; t++)
        if (!CU_add_test(s, t->name, t->fn)) {
            fprintf(stderr, "CUnit: cannot add test %s\n", t->name);
            exit(2);
        }
}

int testutil_allclose(const char *label, const float *a, const float *b, size_t n, double atol,
                      double rtol) {
    double max_abs = 0, max_rel = 0;
    size_t bad = 0, first_bad = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        double r = d / (fabs((double)b[i]) + 1e-30);
        if (!(d <= atol + rtol * fabs((double)b[i]))) { /* also catches NaN */
            if (!bad) first_bad = i;
            bad++;
        }
        if (d > max_abs || isnan(d)) max_abs = d;
        if (r > max_rel && fabs((double)b[i]) > atol) max_rel = r;
    }
    printf("    %-32s n=%-8zu max_abs=%.3e max_rel=%.3e%s", label, n, max_abs, max_rel,
           bad ? "  MISMATCH" : "\n");
    if (bad)
        printf(" (%zu bad; first at %zu: %.9g vs %.9g)\n", bad, first_bad, (double)a[first_bad],
               (double)b[first_bad]);
    return bad == 0;
}

const char *testutil_repo_path(const char *rel) {
    static char buf[4096]; /* test-only helper, single-threaded */
    const char *prefixes[] = {"", "../", "../../"};
    for (int i = 0; i < 3; i++) {
        snprintf(buf, sizeof buf, "%s%s", prefixes[i], rel);
        if (access(buf, R_OK) == 0) return buf;
    }
    return NULL;
}

void testutil_skip(const char *what, const char *why) {
    /* on a line of its own (tests/run_tests.sh counts lines starting with
     * SKIP), also when CUnit has just printed "Test: ... ..." */
    printf("\nSKIP %s: %s\n", what, why);
    fflush(stdout);
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

int testutil_remove_tree(const char *dir) {
    /* depth first (children before their directory), no symlink following */
    int rc = nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    if (rc != 0) fprintf(stderr, "could not remove %s\n", dir);
    return rc;
}
