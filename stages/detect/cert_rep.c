/*
 * cert_rep.c - certificate_reuse's replica value (cf_cert_rep), held in two
 * parts.
 *
 * Why: the replica held a whole record per certificate inline (304 bytes: the
 * earliest 8 declarations and 3 exporters with their ids), sized for the rare
 * certificate used on many declarations. Almost every certificate is used once
 * or twice, so on 1M records the table grew to 524,288 slots of 304 bytes
 * (~160 MB), and replay spent much of its time zeroing the pages of its
 * growth. Here a value holds the earliest declaration and exporter inline and
 * the others out of line, allocated when a second distinct one arrives.
 *
 * A merge works on the whole form (cf_cert_full, the old layout, by the old
 * code), so what a record holds, and so every decision, evidence and byte
 * written, is what the inline record gave; only a use that changes nothing but
 * the count, or the first use, skips the copy (tests/unit/test_cert_rep.c
 * checks both forms against each other).
 *
 * The out-of-line part is owned by its table slot: the table moves values
 * (growth, removal) but never copies one, and its drop callback frees it.
 *
 * @locality: the thread that applies certificate uses to the replica.
 */
#include <stdlib.h>
#include <string.h>

#include "stages/detect/detect_int.h"

void cf_cert_keep_id(char *dst, size_t cap, const char *s, size_t n)
{
        if (n > cap - 1) n = cap - 1;
        memcpy(dst, s, n);
        dst[n] = '\0';
}

/* Insert (t, h) into the sorted list a[0..*n) of at most cap, one entry per hash
 * holding its earliest time; the position it got, or -1 when it is not kept. */
static int keep_earliest(cf_cert_use *a, uint8_t *n, int cap, int64_t t, uint64_t h)
{
        for (int i = 0; i < *n; i++) {
                if (a[i].h != h) continue;
                if (!cf_cert_before(t, h, &a[i])) return -1; /* an earlier use is kept */
                memmove(a + i, a + i + 1, (size_t)(*n - i - 1) * sizeof(*a));
                (*n)--;
                break;
        }
        int p = 0;
        while (p < *n && !cf_cert_before(t, h, &a[p]))
                p++;
        if (p >= cap) return -1;
        int m = *n < cap ? *n : cap - 1;
        memmove(a + p + 1, a + p, (size_t)(m - p) * sizeof(*a));
        a[p] = (cf_cert_use){t, h};
        if (*n < cap) (*n)++;
        return p;
}

void cf_cert_full_merge(cf_cert_full *v, const cf_cert_event *e)
{
        v->uses++;
        int p = keep_earliest(v->decl, &v->nd, CF_CERT_KEEP, e->t, e->decl_h);
        if (p == 0) cf_cert_keep_id(v->first_decl, sizeof(v->first_decl), e->decl, strlen(e->decl));
        /* exporter ids move with their entries */
        char ids[CF_CERT_EXP][CF_CERT_ID_LEN];
        cf_cert_use old[CF_CERT_EXP];
        uint8_t on = v->ne;
        memcpy(ids, v->exp_id, sizeof(ids));
        memcpy(old, v->exp, sizeof(old));
        if (keep_earliest(v->exp, &v->ne, CF_CERT_EXP, e->t, e->exp_h) < 0) return;
        for (int i = 0; i < v->ne; i++) {
                if (v->exp[i].h == e->exp_h) {
                        cf_cert_keep_id(v->exp_id[i], CF_CERT_ID_LEN, e->exporter,
                                        strlen(e->exporter));
                        continue;
                }
                for (int j = 0; j < on; j++)
                        if (old[j].h == v->exp[i].h) memcpy(v->exp_id[i], ids[j], CF_CERT_ID_LEN);
        }
}

void cf_cert_rep_get(const cf_cert_rep *v, cf_cert_full *f)
{
        memset(f, 0, sizeof(*f));
        f->last_ms = v->last_ms;
        f->uses = v->uses;
        f->nd = v->nd;
        f->ne = v->ne;
        f->decl[0] = v->decl0;
        f->exp[0] = v->exp0;
        memcpy(f->exp_id[0], v->exp_id0, CF_CERT_ID_LEN);
        memcpy(f->first_decl, v->first_decl, CF_CERT_DECL_ID);
        if (!v->more) return;
        memcpy(f->decl + 1, v->more->decl, sizeof(v->more->decl));
        memcpy(f->exp + 1, v->more->exp, sizeof(v->more->exp));
        memcpy(f->exp_id + 1, v->more->exp_id, sizeof(v->more->exp_id));
}

void cf_cert_rep_set(cf_cert_rep *v, const cf_cert_full *f)
{
        v->last_ms = f->last_ms;
        v->uses = f->uses;
        v->nd = f->nd;
        v->ne = f->ne;
        v->decl0 = f->decl[0];
        v->exp0 = f->exp[0];
        memcpy(v->exp_id0, f->exp_id[0], CF_CERT_ID_LEN);
        memcpy(v->first_decl, f->first_decl, CF_CERT_DECL_ID);
        if (f->nd <= 1 && f->ne <= 1 && !v->more) return;
        if (!v->more) { /* lists never shrink: once allocated, it stays */
                v->more = malloc(sizeof(*v->more));
                if (!v->more) abort();
        }
        memcpy(v->more->decl, f->decl + 1, sizeof(v->more->decl));
        memcpy(v->more->exp, f->exp + 1, sizeof(v->more->exp));
        memcpy(v->more->exp_id, f->exp_id + 1, sizeof(v->more->exp_id));
}

void cf_cert_rep_merge(cf_cert_rep *v, const cf_cert_event *e)
{
        if (!v->nd) { /* the first use (a record is never restored empty): kept whole */
                v->uses++;
                v->nd = v->ne = 1;
                v->decl0 = (cf_cert_use){e->t, e->decl_h};
                v->exp0 = (cf_cert_use){e->t, e->exp_h};
                cf_cert_keep_id(v->first_decl, sizeof(v->first_decl), e->decl, strlen(e->decl));
                cf_cert_keep_id(v->exp_id0, sizeof(v->exp_id0), e->exporter, strlen(e->exporter));
                return;
        }
        if (!v->more && v->decl0.h == e->decl_h && v->exp0.h == e->exp_h &&
            !cf_cert_before(e->t, e->decl_h, &v->decl0) &&
            !cf_cert_before(e->t, e->exp_h, &v->exp0)) {
                v->uses++; /* the same declaration and exporter again, no earlier */
                return;
        }
        cf_cert_full f;
        cf_cert_rep_get(v, &f);
        cf_cert_full_merge(&f, e);
        cf_cert_rep_set(v, &f);
}

void cf_cert_rep_put(cf_buf *out, const cf_cert_rep *v)
{
        cf_st_put_i64(out, v->last_ms);
        cf_st_put_u64(out, v->uses);
        cf_st_put_u8(out, v->nd);
        for (int i = 0; i < v->nd; i++) {
                cf_st_put_i64(out, cf_cert_decl(v, i)->t);
                cf_st_put_u64(out, cf_cert_decl(v, i)->h);
        }
        cf_st_put_u8(out, v->ne);
        for (int i = 0; i < v->ne; i++) {
                cf_st_put_i64(out, cf_cert_exp(v, i)->t);
                cf_st_put_u64(out, cf_cert_exp(v, i)->h);
                cf_st_put_str8(out, cf_cert_exp_id(v, i));
        }
        cf_st_put_str8(out, v->first_decl);
}

void cf_cert_rep_drop(void *opaque, uint64_t key, void *val)
{
        (void)opaque;
        (void)key;
        cf_cert_rep *v = val;
        free(v->more);
        v->more = NULL;
}
