/*
 * dedup_hash.h - the hashes dedup keys on (DESIGN §5.2), all XXH3 (xxHash).
 */
#ifndef CF_DEDUP_HASH_H
#define CF_DEDUP_HASH_H

#include <stdint.h>

#include "pipeline/core/batch.h"

/** The three hashes of one record. */
typedef struct cf_dd_hashes {
        uint64_t kh; /* key (declaration_id, line); never 0 */
        uint64_t fp; /* low 64 bits of the XXH3-128 fingerprint of the canonical record */
        uint64_t sh; /* shipment fields; never 0 */
} cf_dd_hashes;

/**
 * Hash the decoded record d. scratch holds the canonical rendering (reused,
 * so no allocation per record once it has grown).
 */
void cf_dd_hash_record(const cf_decl *d, cf_buf *scratch, cf_dd_hashes *out);

#endif
