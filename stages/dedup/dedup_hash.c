/*
 * dedup_hash.c - canonical rendering of a decoded record and its hashes.
 *
 * The fingerprint is taken over the DECODED fields, not the original bytes:
 * a producer that re-serialises a declaration (other key order, whitespace,
 * "120" vs "120.0", "\u0041" vs "A", "+08:00" vs "Z" for the same instant) is
 * still an exact re-delivery and must be dropped, not processed twice as a
 * "conflicting resubmission". The rendering is every field of DESIGN §3 in a
 * fixed order, strings length-prefixed, numbers as IEEE-754 bits (-0 as 0),
 * preceded by the presence bits so "absent" and "empty" differ. The amendment
 * is part of it (absent counts as 0, as decode defines). Unknown keys are not
 * decoded and so not part of it; value_usd is derived from reference data and
 * is left out so an fx reload cannot turn re-deliveries into resubmissions.
 */
#include "stages/dedup/dedup_hash.h"

#include <string.h>
#include <xxhash.h>

typedef struct wr {
        unsigned char *p;
} wr;

static inline void w_bytes(wr *w, const void *s, size_t n)
{
        if (n) memcpy(w->p, s, n);
        w->p += n;
}

static inline void w_u32(wr *w, uint32_t v)
{
        w_bytes(w, &v, 4);
}

static inline void w_i64(wr *w, int64_t v)
{
        w_bytes(w, &v, 8);
}

static inline void w_num(wr *w, double v)
{
        if (v == 0) v = 0; /* -0 and 0 are the same value */
        w_bytes(w, &v, 8);
}

static inline void w_str(wr *w, cf_str s)
{
        w_u32(w, s.n);
        w_bytes(w, s.p, s.n);
}

static size_t strings_len(const cf_decl *d)
{
        const cf_str *s[] = {&d->declaration_id,  &d->hs_code,         &d->exporter_id,
                             &d->importer_id,     &d->port_of_loading, &d->port_of_discharge,
                             &d->manufacturer_id, &d->preference_code, &d->certificate_of_origin,
                             &d->transport_mode,  &d->vessel_imo,      &d->container_id,
                             &d->bill_of_lading,  &d->declarant_id,    &d->goods_description};
        size_t n = 0;
        for (size_t i = 0; i < sizeof(s) / sizeof(s[0]); i++)
                n += s[i]->n;
        return n;
}

void cf_dd_hash_record(const cf_decl *d, cf_buf *scratch, cf_dd_hashes *out)
{
        cf_buf_reserve(scratch, strings_len(d) + 512);
        wr w = {(unsigned char *)scratch->p};
        unsigned char *start = w.p;
        /* Key: line then id bytes in one input. Not the id with the line as
         * XXH3's seed: for short inputs the seed is XORed in, so ("G-0", line 3)
         * and ("G-3", line 2) collide (found by test_dedup_snapshot's model). */
        w_i64(&w, d->line);
        w_bytes(&w, d->declaration_id.p, d->declaration_id.n);
        uint64_t kh = XXH3_64bits(start, (size_t)(w.p - start));
        out->kh = kh ? kh : 1;
        w.p = start;
        /* Shipment identity first: its hash is a prefix of the same buffer. */
        w_str(&w, d->exporter_id);
        w_str(&w, d->importer_id);
        w_str(&w, d->hs_code);
        w_num(&w, d->quantity);
        w_num(&w, d->customs_value);
        w_u32(&w, d->present & (CF_HAS_BOL | CF_HAS_CONTAINER));
        w_str(&w, d->present & CF_HAS_BOL ? d->bill_of_lading : (cf_str){0});
        w_str(&w, d->present & CF_HAS_CONTAINER ? d->container_id : (cf_str){0});
        uint64_t sh = XXH3_64bits(start, (size_t)(w.p - start));
        out->sh = sh ? sh : 1;

        w_u32(&w, d->present & ~(uint32_t)CF_HAS_AMENDMENT);
        w_str(&w, d->declaration_id);
        w_i64(&w, d->line);
        w_i64(&w, d->event_time_ms);
        w_u32(&w, ((uint32_t)d->origin_country << 16) | d->export_country);
        w_bytes(&w, d->unit, 4);
        w_bytes(&w, d->currency, 4);
        w_i64(&w, d->present & CF_HAS_AMENDMENT ? d->amendment : 0);
        w_u32(&w, ((uint32_t)d->reporter_country << 16) | d->direction);
        w_str(&w, d->port_of_loading);
        w_str(&w, d->port_of_discharge);
        w_u32(&w, d->n_transit);
        w_bytes(&w, d->transit, (size_t)d->n_transit * sizeof(d->transit[0]));
        w_str(&w, d->manufacturer_id);
        w_u32(&w, d->manufacturer_country);
        w_num(&w, d->present & CF_HAS_NET_MASS ? d->net_mass_kg : 0);
        w_num(&w, d->present & CF_HAS_GROSS_MASS ? d->gross_mass_kg : 0);
        w_str(&w, d->preference_code);
        w_str(&w, d->certificate_of_origin);
        w_str(&w, d->transport_mode);
        w_str(&w, d->vessel_imo);
        w_str(&w, d->declarant_id);
        w_str(&w, d->goods_description);
        XXH128_hash_t fp = XXH3_128bits(start, (size_t)(w.p - start));
        out->fp = fp.low64;
}
