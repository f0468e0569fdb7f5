/*
 * opts.h - table-driven command-line options: one static table per command
 * (long name, short name, kind and range, destination offset, help) drives
 * getopt_long, the validation of every value, the unexpected-argument check
 * and the generated --help text, as config_map.h does for config keys.
 */
#ifndef CF_OPTS_H
#define CF_OPTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

typedef enum cf_opt_kind {
        CF_OPT_STR,    /* const char * (argv's string, not copied) */
        CF_OPT_ON,     /* int set to 1; no value */
        CF_OPT_OFF,    /* int set to 0; no value (--no-progress) */
        CF_OPT_INT,    /* int, decimal, in [lo, hi] */
        CF_OPT_LL,     /* long long, decimal, in [lo, hi] */
        CF_OPT_U64,    /* uint64_t, decimal without sign, in [lo, hi] (hi 0: UINT64_MAX) */
        CF_OPT_DOUBLE, /* double, finite, in [dlo, dhi] */
        CF_OPT_SIZE,   /* int64_t bytes ("512MiB", "4GiB": cf_parse_size), at least lo */
        CF_OPT_FN,     /* parse(value, destination): 0 or -1 ("is not <what>") */
} cf_opt_kind;

/** One option. A table ends with an entry whose name is NULL; --help is implied. */
typedef struct cf_opt {
        const char *name; /* long name, without "--" */
        char short_name;  /* 0: none */
        cf_opt_kind kind;
        size_t off;       /* the destination's offset in the options struct */
        const char *arg;  /* the value's placeholder in the help ("N", "FILE") */
        const char *help; /* meaning and default, wrapped by the help printer */
        long long lo, hi; /* INT, LL, U64, SIZE: the range */
        double dlo, dhi;  /* DOUBLE: the range */
        int (*parse)(const char *v, void *dst); /* FN */
        const char *what;                       /* FN: what a value must be */
        bool required;                          /* an error when absent */
} cf_opt;

/** A command: its name in messages, the text around the options, the table. */
typedef struct cf_opts_spec {
        const char *prog;   /* "customsflow replay": messages and the usage line */
        const char *about;  /* after the usage line (NULL: none) */
        const char *epilog; /* after the options (NULL: none) */
        const cf_opt *opts;
        bool args; /* positional arguments allowed (options may follow them too) */
} cf_opts_spec;

/* Table rows, e.g. CF_OPT_ROW_U64("count", 0, demo_opts, count, 0, 0, "N", "records ..."). */
#define CF_OPT_ROW(n, s, k, T, f, a, h)                                                            \
        {                                                                                          \
                .name = n, .short_name = s, .kind = k, .off = offsetof(T, f), .arg = a, .help = h  \
        }
#define CF_OPT_ROW_STR(n, s, T, f, a, h) CF_OPT_ROW(n, s, CF_OPT_STR, T, f, a, h)
#define CF_OPT_ROW_ON(n, T, f, h)        CF_OPT_ROW(n, 0, CF_OPT_ON, T, f, NULL, h)
#define CF_OPT_ROW_OFF(n, T, f, h)       CF_OPT_ROW(n, 0, CF_OPT_OFF, T, f, NULL, h)
#define CF_OPT_ROW_NUM(n, k, T, f, l, u, a, h)                                                     \
        {                                                                                          \
                .name = n, .kind = k, .off = offsetof(T, f), .arg = a, .help = h, .lo = l, .hi = u \
        }
#define CF_OPT_ROW_INT(n, T, f, l, u, a, h) CF_OPT_ROW_NUM(n, CF_OPT_INT, T, f, l, u, a, h)
#define CF_OPT_ROW_LL(n, T, f, l, u, a, h)  CF_OPT_ROW_NUM(n, CF_OPT_LL, T, f, l, u, a, h)
#define CF_OPT_ROW_U64(n, T, f, l, u, a, h) CF_OPT_ROW_NUM(n, CF_OPT_U64, T, f, l, u, a, h)
#define CF_OPT_ROW_DOUBLE(n, T, f, l, u, a, h)                                                     \
        {                                                                                          \
                .name = n, .kind = CF_OPT_DOUBLE, .off = offsetof(T, f), .arg = a, .help = h,      \
                .dlo = l, .dhi = u                                                                 \
        }
#define CF_OPT_ROW_FN(n, T, f, fn, w, a, h)                                                        \
        {                                                                                          \
                .name = n, .kind = CF_OPT_FN, .off = offsetof(T, f), .arg = a, .help = h,          \
                .parse = fn, .what = w                                                             \
        }

/**
 * Parse argv[1..argc-1] into base (defaults set by the caller). 0: parsed; 1: --help was
 * given; -1: a bad value; -2: bad usage (unknown option, missing value or option, an
 * argument where none is allowed): "PROG: reason" in errstr. Options and positional
 * arguments may come in any order (argv is permuted: the arguments end up last); with
 * s->args, *argi is the index of the first argument (argc: none), else argi may be NULL.
 */
int cf_opts_parse(const cf_opts_spec *s, int argc, char **argv, void *base, int *argi, char *errstr,
                  size_t errstr_size);
/** Write the help generated from s: usage line, about, one entry per option, epilog. */
void cf_opts_usage(const cf_opts_spec *s, FILE *f);
/** Write only the usage line(s) (every option, required ones without brackets). */
void cf_opts_synopsis(const cf_opts_spec *s, FILE *f);
/**
 * cf_opts_parse for a command's main: --help prints the help on stdout and returns 1; an
 * error prints the reason (and, for bad usage, the usage line) on stderr and returns -1;
 * else 0.
 */
int cf_opts_main(const cf_opts_spec *s, int argc, char **argv, void *base, int *argi);

#endif
