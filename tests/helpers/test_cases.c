/*
 * test_cases.c - see test_cases.h.
 */
#include "helpers/test_cases.h"

#include <stdio.h>
#include <string.h>

int cf_test_cases_run(const char *group, const struct CMUnitTest *tests, size_t n, int argc,
                      char **argv)
{
        if (argc < 2) return _cmocka_run_group_tests(group, tests, n, NULL, NULL);
        for (size_t i = 0; i < n; i++)
                if (!strcmp(tests[i].name, argv[1]))
                        return _cmocka_run_group_tests(group, &tests[i], 1, NULL, NULL);
        fprintf(stderr, "%s: no test case named '%s'; the cases are:\n", argv[0], argv[1]);
        for (size_t i = 0; i < n; i++)
                fprintf(stderr, "  %s\n", tests[i].name);
        return 2;
}
