/*
 * batch.h - the declaration record, the batch that carries records through the
 * stages, and the outputs (flags, stats) stages emit.
 *
 * A batch owns an arena reset once per batch: stages allocate evidence strings,
 * unescaped strings and reasons there, never with malloc per record.
 */
#ifndef CF_BATCH_H
#define CF_BATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ids are short and hashed on every record: inlined XXH3 skips the call and
 * the library's dispatch */
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "pipeline/core/arena.h"
#include "pipeline/core/buf.h"

/** A string slice: into the message, or into the batch arena when unescaped. */
typedef struct cf_str {
        const char *p;
        uint32_t n;
} cf_str;

/** Pack an ISO 3166-1 alpha-2 code ("CN") into a uint16 (0 = absent). */
#define CF_CC(a, b)    ((uint16_t)(((uint16_t)(unsigned char)(a) << 8) | (unsigned char)(b)))
#define CF_MAX_TRANSIT 8

/** Presence bits for optional declaration fields (cf_decl.present). */
enum {
        CF_HAS_AMENDMENT = 1u << 0,
        CF_HAS_REPORTER = 1u << 1,
        CF_HAS_DIRECTION = 1u << 2,
        CF_HAS_POL = 1u << 3,
        CF_HAS_POD = 1u << 4,
        CF_HAS_TRANSIT = 1u << 5,
        CF_HAS_MANUFACTURER_ID = 1u << 6,
        CF_HAS_MANUFACTURER_CC = 1u << 7,
        CF_HAS_NET_MASS = 1u << 8,
        CF_HAS_GROSS_MASS = 1u << 9,
        CF_HAS_PREFERENCE = 1u << 10,
        CF_HAS_CERTIFICATE = 1u << 11,
        CF_HAS_TRANSPORT_MODE = 1u << 12,
        CF_HAS_VESSEL = 1u << 13,
        CF_HAS_CONTAINER = 1u << 14,
        CF_HAS_BOL = 1u << 15,
        CF_HAS_DECLARANT = 1u << 16,
        CF_HAS_DESCRIPTION = 1u << 17,
        CF_HAS_CUSTOMS_OFFICE = 1u << 18,
        CF_HAS_COURIER = 1u << 19,
        CF_HAS_TAX_TYPE = 1u << 20,
        CF_HAS_TAX_RATE = 1u << 21,
        CF_HAS_ORIGIN_INDICATOR = 1u << 22,
        CF_HAS_PROCESS_TYPE = 1u << 23,
        CF_HAS_IMPORT_TYPE = 1u << 24,
        CF_HAS_IMPORT_USE = 1u << 25,
        CF_HAS_PAYMENT_TYPE = 1u << 26,
        CF_HAS_ATTRIBUTES = 1u << 27,
};

/** One agency-specific attribute (the declaration's `attributes` object). */
typedef struct cf_attr {
        cf_str key;
        cf_str str; /* the value when a string */
        double num; /* the value when a number */
        bool is_num;
} cf_attr;

/** One validated declaration line (DESIGN §3). Strings are slices. */
typedef struct cf_decl {
        cf_str declaration_id;
        int64_t line;
        int64_t event_time_ms; /* acceptance time, epoch milliseconds UTC */
        cf_str hs_code;        /* 6-10 digits */
        uint32_t hs6;          /* first six digits as a number */
        uint16_t origin_country, export_country;
        cf_str exporter_id, importer_id;
        uint64_t exporter_h, importer_h; /* cf_id_hash of the ids, set by decode (0 = not yet) */
        double quantity;
        char unit[4]; /* UN/ECE Rec. 20, NUL-terminated */
        double customs_value;
        char currency[4]; /* ISO 4217, NUL-terminated */
        double value_usd; /* customs_value converted with fx_rates (decode) */
        uint32_t present; /* CF_HAS_* bits */
        int64_t amendment;
        uint16_t reporter_country;
        uint8_t direction; /* 0 absent, 1 import, 2 export */
        cf_str port_of_loading, port_of_discharge;
        uint16_t transit[CF_MAX_TRANSIT];
        uint8_t n_transit;
        cf_str manufacturer_id;
        uint16_t manufacturer_country;
        double net_mass_kg, gross_mass_kg;
        cf_str preference_code, certificate_of_origin, transport_mode, vessel_imo, container_id,
            bill_of_lading, declarant_id, goods_description;
        /* attributes risk models read (DESIGN §3), all optional */
        cf_str customs_office, courier_id, tax_type, origin_indicator, process_type, import_type,
            import_use, payment_type;
        double tax_rate;      /* percent */
        const cf_attr *attrs; /* `attributes`, in message order (arena) */
        uint16_t n_attrs;
} cf_decl;

/** The hash stages key party ids by: XXH3-64, never 0 (0 marks empty slots). */
static inline uint64_t cf_id_hash(const char *s, size_t n)
{
        uint64_t h = XXH3_64bits(s, n);
        return h ? h : 1;
}

/** exporter_id's hash: decode's, or computed for a record built without decode. */
static inline uint64_t cf_decl_exporter_h(const cf_decl *d)
{
        return d->exporter_h ? d->exporter_h : cf_id_hash(d->exporter_id.p, d->exporter_id.n);
}

/** importer_id's hash: decode's, or computed for a record built without decode. */
static inline uint64_t cf_decl_importer_h(const cf_decl *d)
{
        return d->importer_h ? d->importer_h : cf_id_hash(d->importer_id.p, d->importer_id.n);
}

/** What happened to a record; every consumed record ends in exactly one. */
typedef enum cf_rec_status {
        CF_REC_OK = 0,      /* processed (flagged or not) */
        CF_REC_DUPLICATE,   /* exact re-delivery, dropped and counted */
        CF_REC_DEAD_LETTER, /* bad input, goes to the DLQ */
} cf_rec_status;

/** Signals dedup hands to detect (cf_record.signals). */
enum {
        CF_SIG_AMENDMENT = 1u << 0,
        CF_SIG_CONFLICTING_RESUBMISSION = 1u << 1,
        CF_SIG_DUPLICATE_SHIPMENT = 1u << 2,
};

/** One reason a rule fired: evidence is a JSON object text, explanation one sentence of
 * plain UTF-8 text made from it (both in the arena; the encoder escapes the sentence). */
typedef struct cf_reason {
        const char *rule; /* the rule's name: names[rule_ix] of the published cf_rule_set */
        uint16_t rule_ix;
        double weight;
        const char *evidence;
        uint32_t evidence_len;
        uint32_t explanation_len;
        const char *explanation; /* NULL: none */
} cf_reason;

/** Where a record came from: Kafka coordinates or a replay file line. */
typedef struct cf_source {
        const char *topic; /* or file name in replay */
        int32_t partition;
        int64_t offset; /* Kafka offset, or 1-based line number in replay */
        bool is_file;
        const void *key; /* Kafka message key (a dead letter keeps it), NULL in replay */
        size_t key_len;
} cf_source;

/** What an inspection or audit found (outcomes input, schemas/outcome.schema.json). */
typedef enum cf_outcome_kind {
        CF_OUTCOME_NONE = 0, /* a declaration, not an outcome */
        CF_OUTCOME_CLEAN,    /* inspected, nothing found */
        CF_OUTCOME_FRAUD,    /* a fraud was found */
        CF_OUTCOME_CRITICAL, /* a fraud of the highest severity (learnt as fraud) */
} cf_outcome_kind;

/** An outcome message's own fields; its `declaration` is decoded into cf_record.decl. */
typedef struct cf_outcome {
        uint8_t kind;         /* cf_outcome_kind */
        bool has_duties;      /* duties_recovered present */
        int64_t inspected_ms; /* inspected_at, epoch ms UTC */
        double duties_recovered;
} cf_outcome;

/** A record moving through the stages. */
typedef struct cf_record {
        const char *data; /* original bytes, unchanged */
        size_t len;
        uint64_t dropped; /* bytes the source cut off after data[len) (replay: a line longer
                             than max_message_bytes); 0 = the whole message */
        cf_source src;
        int64_t timestamp_ms; /* Kafka message timestamp (produce time), 0 if none */
        cf_rec_status status;
        const char *err_code; /* stable code when dead-lettered (static string) */
        const char *err_msg;  /* precise message naming the field (arena) */
        cf_decl decl;
        uint32_t signals;               /* CF_SIG_* from dedup */
        const char *sig_evidence[3];    /* JSON object text per signal bit index (arena) */
        const char *sig_explanation[3]; /* its sentence, plain text (arena) */
        cf_reason *reasons;
        uint16_t n_reasons, cap_reasons;
        double score;
        bool flagged;
        cf_outcome outcome; /* outcomes input only (cf_chain_learn) */
} cf_record;

/** Kinds of output message a stage may emit. */
typedef enum cf_out_kind {
        CF_OUT_FLAG = 0,
        CF_OUT_STATS = 1,
} cf_out_kind;

/** One output message; key and value are offsets into cf_batch.out. */
typedef struct cf_output {
        cf_out_kind kind;
        int32_t partition; /* input partition it derives from (-1: none) */
        size_t key_off, key_len;
        size_t val_off, val_len;
} cf_output;

/** A batch of records plus its arena and the outputs stages produced. */
typedef struct cf_batch {
        cf_record *recs;
        size_t n, cap;
        cf_arena arena;
        cf_buf out; /* bytes of every output's key and value */
        cf_output *outs;
        size_t n_outs, cap_outs;
        int64_t now_ms; /* wall clock at batch start (processed_at); 0 = none */
        bool replay;    /* records come from a file replay: decode's event-time reference
                           may also be the highest event time seen (kept across resets) */
} cf_batch;

/** Allocate a batch able to hold cap records. */
void cf_batch_init(cf_batch *b, size_t cap);
/** Reset records, arena and outputs for the next batch. */
void cf_batch_reset(cf_batch *b);
/** Free the batch. */
void cf_batch_destroy(cf_batch *b);
/** Append a record slot (zeroed except data/len) or NULL when full. */
cf_record *cf_batch_add(cf_batch *b, const char *data, size_t len);
/** Mark r dead-lettered with a stable code and a printf message (arena). */
void cf_record_dead_letter(cf_batch *b, cf_record *r, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/** Add a reason to r for rule rule_ix (named rule) and return it; evidence is copied into
 * the arena, the explanation is left NULL (see cf_reason_explain). */
cf_reason *cf_record_add_reason(cf_batch *b, cf_record *r, uint16_t rule_ix, const char *rule,
                                double weight, const char *evidence, size_t evidence_len);
/** Give re its explanation sentence (n bytes of text, copied into the arena). */
void cf_reason_explain(cf_batch *b, cf_reason *re, const char *text, size_t n);
/** Start an output: returns the cf_buf to write the value into after the key. */
cf_buf *cf_batch_out_begin(cf_batch *b, cf_out_kind kind, int32_t partition, const char *key,
                           size_t key_len);
/** Finish the output begun last (its value is what was written since begin). */
void cf_batch_out_end(cf_batch *b);

#endif
