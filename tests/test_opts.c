/* test_opts.c — the options engine (impl/base/opts.h) and the enum word tables
 * (impl/base/names.h): values in and out of range, words, flags, plain
 * arguments, what was given, text written back, --help. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "opts.h"
#include "testutil.h"

typedef enum { COLOR_RED = 0, COLOR_GREEN = 1 } Color;
static const EnumName COLOR_NAMES[] = {{"red", COLOR_RED}, {"green", COLOR_GREEN}, {"verde", COLOR_GREEN}, {NULL, 0}};

typedef struct {
    int n;
    long long big;
    float x;
    double y;
    char name[8];
    const char *path;
    int on;
    Color color;
} Demo;

static const OptSpec DEMO_OPTS[] = {
    {OPT_INT(Demo, "n", n, 1, 10, "a small count")},
    {OPT_INT64(Demo, "big", big, 0, 1000000000000000000.0, "a big one")},
    {OPT_FLOAT(Demo, "x", x, 0, 1, "a fraction")},
    {OPT_DOUBLE(Demo, "y-value", y, -5, 5, "a double")},
    {OPT_TEXT(Demo, "name", name, "a short name")},
    {OPT_ARG(Demo, "path", path, "a path")},
    {OPT_FLAG(Demo, "on", on, "a switch")},
    {OPT_ENUM(Demo, "color", color, COLOR_NAMES, "a color")},
};

static const OptTable DEMO = {
    .cmd = "demo",
    .synopsis = "usage: mtl demo [options] [FILE]",
    .specs = DEMO_OPTS,
    .n = (int)(sizeof DEMO_OPTS / sizeof DEMO_OPTS[0]),
    .max_positional = 1,
};

/* Parse the space-separated words of line (argv[0] = "demo") into d. */
static int parse_line(const char *line, Demo *d, OptArgs *got, Err *err) {
    static char buf[512];
    char *argv[32] = {"demo"};
    int argc = 1;
    snprintf(buf, sizeof buf, "%s", line);
    for (char *save = NULL, *w = strtok_r(buf, " ", &save); w && argc < 32; w = strtok_r(NULL, " ", &save))
        argv[argc++] = w;
    memset(d, 0, sizeof *d);
    d->n = 3;
    err->msg[0] = '\0';
    return opts_parse(&DEMO, d, argc, argv, got, err);
}

static void expect_error(const char *line, const char *want) {
    Demo d;
    Err err;
    CU_ASSERT_EQUAL(parse_line(line, &d, NULL, &err), -1);
    if (!strstr(err.msg, want)) printf("\n  '%s' -> '%s' (wanted '%s')\n", line, err.msg, want);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, want));
}

static void test_values(void) {
    Demo d;
    OptArgs got;
    Err err;
    CU_ASSERT_EQUAL(parse_line("--n 7 --big 1000000000000000000 --x=0.5 --y_value -2.5 --name abc "
                               "--path p.txt --on --color verde FILE",
                               &d, &got, &err), 0);
    CU_ASSERT_EQUAL(d.n, 7);
    CU_ASSERT_EQUAL(d.big, 1000000000000000000LL);
    CU_ASSERT_DOUBLE_EQUAL(d.x, 0.5, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(d.y, -2.5, 1e-12);
    CU_ASSERT_STRING_EQUAL(d.name, "abc");
    CU_ASSERT_STRING_EQUAL(d.path, "p.txt");
    CU_ASSERT_EQUAL(d.on, 1);
    CU_ASSERT_EQUAL(d.color, COLOR_GREEN);
    CU_ASSERT_EQUAL(got.npos, 1);
    CU_ASSERT_STRING_EQUAL(got.pos[0], "FILE");
    CU_ASSERT(opts_given(&DEMO, &got, "n") && opts_given(&DEMO, &got, "y-value"));
    CU_ASSERT_EQUAL(parse_line("--x 0", &d, &got, &err), 0);
    CU_ASSERT_EQUAL(d.n, 3); /* untouched: the default */
    CU_ASSERT(!opts_given(&DEMO, &got, "n") && opts_given(&DEMO, &got, "x"));
    CU_ASSERT_EQUAL(parse_line("--n 2 --help --bogus", &d, NULL, &err), 1);
}

static void test_errors(void) {
    expect_error("--n 0", "option --n: '0' is outside the accepted range [1, 10]");
    expect_error("--n 11", "outside the accepted range");
    expect_error("--n 1.5", "option --n: '1.5' is not an integer (accepted range [1, 10])");
    expect_error("--n 99999999999999999999", "outside the accepted range");
    expect_error("--big 1000000000000000001", "option --big: '1000000000000000001' is outside");
    expect_error("--x nan", "option --x: 'nan' is outside");
    expect_error("--x inf", "outside the accepted range [0, 1]");
    expect_error("--x 1e-3x", "option --x: '1e-3x' is not a number");
    expect_error("--color blue", "--color must be red, green or verde (got 'blue')");
    expect_error("--on=maybe", "option --on: 'maybe' is not a boolean");
    expect_error("--name toolongname", "option --name: value longer than 7 characters");
    expect_error("--n", "option --n needs a value");
    expect_error("--bogus 1", "unknown option '--bogus' (mtl demo --help lists them)");
    expect_error("A B", "unexpected argument 'B'");
    expect_error("-n 2", "unexpected argument '-n'");
}

static void test_set_and_format(void) {
    Demo d = {0};
    Err err;
    char buf[64];
    CU_ASSERT_EQUAL(opts_set(&DEMO, &d, "y_value", "1.25", &err), 0);
    CU_ASSERT_EQUAL(opts_set(&DEMO, &d, "on", "true", &err), 0);
    CU_ASSERT_EQUAL(opts_set(&DEMO, &d, "color", "green", &err), 0);
    CU_ASSERT_EQUAL(opts_set(&DEMO, &d, "n", "0", &err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "option n: '0' is outside")); /* named as the file wrote it */
    CU_ASSERT_EQUAL(opts_set(&DEMO, &d, "path", "x", &err), -1); /* would point into the file's buffer */
    opts_format(opts_find(&DEMO, "color"), &d, buf, sizeof buf);
    CU_ASSERT_STRING_EQUAL(buf, "green"); /* the first word of the value */
    opts_format(opts_find(&DEMO, "--on"), &d, buf, sizeof buf);
    CU_ASSERT_STRING_EQUAL(buf, "1");
    opts_format(opts_find(&DEMO, "y-value"), &d, buf, sizeof buf);
    CU_ASSERT_STRING_EQUAL(buf, "1.25");
}

static void test_help_and_names(void) {
    Demo d = {.n = 3, .color = COLOR_GREEN};
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    opts_help(&DEMO, &d, f);
    fclose(f);
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "usage: mtl demo [options] [FILE]\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "  --n                  a small count [3] (1..10)\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "  --color              a color: red | green | verde [green]\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "  --on                 a switch [off]\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "  --path               a path\n")); /* no default */
    free(text);
    int v = -1;
    CU_ASSERT_EQUAL(enum_value(COLOR_NAMES, "verde", &v), 0);
    CU_ASSERT_EQUAL(v, COLOR_GREEN);
    CU_ASSERT_EQUAL(enum_value(COLOR_NAMES, "Red", &v), -1); /* exact */
    CU_ASSERT_STRING_EQUAL(enum_name(COLOR_NAMES, COLOR_GREEN), "green");
    CU_ASSERT_STRING_EQUAL(enum_name(COLOR_NAMES, 7), "?");
}

int main(void) {
    static const TestCase tests[] = {
        {"values of every kind, plain arguments, what was given", test_values},
        {"bad values name the option and what it accepts", test_errors},
        {"config-file setter and values written back", test_set_and_format},
        {"--help lines and the word tables", test_help_and_names},
        {NULL, NULL}};
    testutil_add_suite("opts", tests);
    return testutil_run_all();
}
