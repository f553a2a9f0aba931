/* testutil.h — shared helpers for the CUnit suites. */
#ifndef MTL_TESTUTIL_H
#define MTL_TESTUTIL_H

#include <CUnit/Basic.h>
#include <stddef.h>

/* Run all registered suites in verbose basic mode; return 0 iff every test
 * passed (use as main's return value). Cleans up the registry. */
int testutil_run_all(void);

/* Add a suite and its tests; aborts the program on registry errors.
 * tests is a NULL-name-terminated array. */
typedef struct {
    const char *name;
    CU_TestFunc fn;
} TestCase;
void testutil_add_suite(const char *name, const TestCase *tests);

/* Compare two float arrays; print the max abs and max rel diff under a label
 * and return 1 if every element satisfies |a-b| <= atol + rtol*|b|. */
int testutil_allclose(const char *label, const float *a, const float *b, size_t n, double atol,
                      double rtol);

/* Path of a repository file when tests run from the repository root or from
 * the build dir (tries "", "../", "../../"). Returns a static buffer or NULL. */
const char *testutil_repo_path(const char *rel);

/* Print a visible skip line (never counted as passed by tests/run_tests.sh). */
void testutil_skip(const char *what, const char *why);

/* Delete a directory tree (the tests' temp dirs); 0 on success, else prints why. */
int testutil_remove_tree(const char *dir);

#endif
