/*
 * test_cases.h - one case of a cmocka test binary, chosen on the command line.
 *
 * CTest runs each case of a multi-case integration test as a test of its own
 * (tests/CMakeLists.txt), so the cases, which mostly wait on the mock broker's
 * group joins, run side by side instead of one after another.
 */
#ifndef CF_TEST_CASES_H
#define CF_TEST_CASES_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>

#include <cmocka.h>

/* Runs every case of tests[] or, with argv[1], the case of that exact name;
 * an unknown name is an error (exit 2), never a run of nothing. */
int cf_test_cases_run(const char *group, const struct CMUnitTest *tests, size_t n, int argc,
                      char **argv);

/* cmocka_run_group_tests(tests, NULL, NULL) with the case chosen by argv[1]. */
#define CF_RUN_CASES(tests, argc, argv)                                                            \
        cf_test_cases_run(#tests, tests, sizeof(tests) / sizeof((tests)[0]), argc, argv)

#endif
