/*
 * topics.h - the topics the service uses, checked at start with the Admin
 * API (DESIGN §3: "checks its topics at start ... creates them only when told
 * to"): the input exists; the outputs exist; the changelog has the input's
 * partition count and cleanup.policy=compact; the population topics
 * (DESIGN §6) exist, the baselines compacted. Missing outputs and changelog
 * are created with topics.create: true, else the service refuses to start
 * with a message naming the topic and the fix. A missing changelog is never
 * left for the broker to auto-create (one partition, no compaction: the
 * checkpoints of every other partition would fail). The outcomes topic is
 * optional (the risk model has nothing to learn until it exists): created
 * with one partition under topics.create, else its absence is a warning.
 */
#ifndef CF_TOPICS_H
#define CF_TOPICS_H

#include <stdbool.h>
#include <stddef.h>

#include "pipeline/kafka/service.h"

enum {
        CF_TOPIC_INPUT,
        CF_TOPIC_FLAGS,
        CF_TOPIC_STATS,
        CF_TOPIC_DLQ,
        CF_TOPIC_CHANGELOG,
        CF_TOPIC_OUTCOMES,     /* optional: missing is a warning unless topics.create */
        CF_TOPIC_BASELINES,    /* population baselines: compacted */
        CF_TOPIC_CERTIFICATES, /* certificate uses: kept for the rule's window */
        CF_N_TOPICS
};

/** What the cluster says about one topic. */
typedef struct cf_topic_fact {
        bool exists;
        int partitions;
        char cleanup_policy[64]; /* "" when unknown (not asked, or the broker would not say) */
} cf_topic_fact;

/** A topic to create. */
typedef struct cf_topic_spec {
        const char *name;
        int partitions, replication; /* replication -1: the broker's default */
        bool compact;
        int64_t retention_ms; /* 0: the broker's default */
} cf_topic_spec;

/**
 * Decide from facts (indexed CF_TOPIC_*) what to do: 0 with the topics to
 * create in create[0..*n_create) (empty when all is well), or -1 + errstr
 * when the service must not start. Warnings (more changelog partitions than
 * needed, cleanup.policy unknown) are logged. Pure: no I/O.
 */
int cf_topics_plan(const cf_service_cfg *sc, const cf_topic_fact *facts, cf_topic_spec *create,
                   int *n_create, char *errstr, size_t errstr_size);

/**
 * Check (and with topics.create, create) the service's topics on its
 * cluster: metadata, the changelog's cleanup.policy (DescribeConfigs), then
 * CreateTopics. Waits for the cluster as long as it takes, in short steps
 * that end at once when the service is asked to stop (returns 0 then).
 * -1 + errstr: refused. @locality: main thread, before workers start
 */
int cf_topics_ensure(cf_service *s, char *errstr, size_t errstr_size);

#endif
