/*
 * rule_set.h - the rule names a stage publishes to the stages after it and to
 * the chain's counters (DESIGN §5.3: the rule registry lives in detect; later
 * stages get the names from it, through cf_stage_env.rules, never from
 * pipeline/). A reason's rule_ix is a position in this set.
 *
 * Plain data, immutable once published: safe to read from any thread.
 */
#ifndef CF_RULE_SET_H
#define CF_RULE_SET_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* The one cap on rules. Per-rule counters are fixed arrays of this size (the
 * chain's flags_by_rule, aggregate's per-group counts, detect's fired
 * counts); detect refuses a registry above it at init. Aggregate snapshots
 * (version 2) hold this many counts per group: changing it needs a new
 * snapshot version there (a static assertion in stages/aggregate says so). */
#define CF_RULES_MAX 16
/* Longest rule name (bytes): names are JSON keys and metric labels. */
#define CF_RULE_NAME_MAX 64

/** Rule names by position; every name is [a-z][a-z0-9_]* (no escaping needed). */
typedef struct cf_rule_set {
        const char *names[CF_RULES_MAX]; /* static strings */
        uint16_t n;
        uint32_t names_len; /* sum of the names' lengths: message bounds come from it */
} cf_rule_set;

/** Position of name in s, or -1. */
static inline int cf_rule_set_index(const cf_rule_set *s, const char *name)
{
        for (int i = 0; i < s->n; i++)
                if (!strcmp(s->names[i], name)) return i;
        return -1;
}

/** Most bytes of a JSON object holding a count of at most digits digits for every
 * rule of s: {"name":N,...}. */
static inline size_t cf_rule_set_json_max(const cf_rule_set *s, size_t digits)
{
        /* per rule: comma, two quotes, colon (4) and the digits */
        return 2 + (size_t)s->n * (4 + digits) + s->names_len;
}

#endif
