/*
 * gen_outcome.c - the generator's inspection outcomes (schemas/outcome.schema.json):
 * a sampled share of the valid declaration lines is "inspected" some days after
 * its event time, and the outcome says what the generator knows:
 *
 *  - a line carrying a fraud label (any rule's) is found fraudulent (one in ten
 *    of them critical);
 *  - a line of one of the "bad actor" importers (1 in GEN_BAD_ACTOR_EVERY of
 *    the importer ids, by hash) is found fraudulent with probability
 *    GEN_BAD_ACTOR_FRAUD even without a label: a pattern no rule names and
 *    only a model learnt from outcomes can find;
 *  - anything else is clean; and GEN_OUTCOME_NOISE of all outcomes are
 *    flipped (inspections err too).
 *
 * Outcomes have their own random stream (seeded from the seed), so asking for
 * them leaves the declarations byte-identical. They are handed out in
 * inspection-time order once the declarations' event time has passed them.
 *
 * @locality: the caller's thread (one generator per thread).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/gen/gen_internal.h"

#define GEN_BAD_ACTOR_EVERY 40   /* one importer id in 40 */
#define GEN_BAD_ACTOR_FRAUD 0.6  /* of its inspected lines without a label */
#define GEN_OUTCOME_NOISE   0.01 /* outcomes flipped */
#define GEN_INSPECT_MIN_MS  (1 * GEN_DAY_MS)
#define GEN_INSPECT_MAX_MS  (10 * GEN_DAY_MS)

/* Min-heap by (inspected_ms, seq): a deterministic order among equal times. */
static bool before(const gen_outcome *a, const gen_outcome *b)
{
        return a->inspected_ms != b->inspected_ms ? a->inspected_ms < b->inspected_ms
                                                  : a->seq < b->seq;
}

static void heap_push(cf_gen *g, gen_outcome o)
{
        if (g->n_out == g->cap_out) {
                g->cap_out = g->cap_out ? g->cap_out * 2 : 256;
                g->outs = realloc(g->outs, g->cap_out * sizeof *g->outs);
        }
        size_t i = g->n_out++;
        while (i && before(&o, &g->outs[(i - 1) / 2])) {
                g->outs[i] = g->outs[(i - 1) / 2];
                i = (i - 1) / 2;
        }
        g->outs[i] = o;
}

static gen_outcome heap_pop(cf_gen *g)
{
        gen_outcome top = g->outs[0], last = g->outs[--g->n_out];
        size_t i = 0;
        for (;;) {
                size_t c = 2 * i + 1;
                if (c >= g->n_out) break;
                if (c + 1 < g->n_out && before(&g->outs[c + 1], &g->outs[c])) c++;
                if (!before(&g->outs[c], &last)) break;
                g->outs[i] = g->outs[c];
                i = c;
        }
        if (g->n_out) g->outs[i] = last;
        return top;
}

bool gen_bad_actor(const char *importer)
{
        return XXH3_64bits(importer, strlen(importer)) % GEN_BAD_ACTOR_EVERY == 0;
}

void gen_outcome_note(cf_gen *g, const gen_rec *r, const char *decl, size_t n)
{
        if (!(g->o.outcome_rate > 0) || strcmp(r->kind, "valid")) return;
        if (!gen_rng_chance(&g->orng, g->o.outcome_rate)) return;
        int kind = 0; /* 0 clean, 1 fraud, 2 critical */
        if (r->labels)
                kind = gen_rng_chance(&g->orng, 0.1) ? 2 : 1;
        else if (gen_bad_actor(r->importer) && gen_rng_chance(&g->orng, GEN_BAD_ACTOR_FRAUD))
                kind = 1;
        if (gen_rng_chance(&g->orng, GEN_OUTCOME_NOISE)) kind = kind ? 0 : 1;
        gen_outcome o = {
            .inspected_ms =
                r->t_ms + GEN_INSPECT_MIN_MS +
                (int64_t)gen_rng_below(&g->orng, GEN_INSPECT_MAX_MS - GEN_INSPECT_MIN_MS),
            .seq = g->out_seq++,
            .kind = kind,
        };
        cf_buf b = {0};
        cf_buf_puts(&b, "{\"declaration_id\":");
        cf_json_str(&b, r->decl_id, strlen(r->decl_id));
        static const char *const names[3] = {"clean", "fraud", "critical"};
        cf_buf_printf(&b, ",\"line\":%d,\"outcome\":\"%s\",\"inspected_at\":", r->line,
                      names[kind]);
        cf_json_time(&b, o.inspected_ms);
        cf_buf_puts(&b, ",\"source\":\"gen\",\"declaration\":");
        cf_buf_put(&b, decl, n);
        cf_buf_putc(&b, '}');
        o.json = b.p;
        o.json_len = b.len;
        snprintf(o.exporter, sizeof o.exporter, "%s", r->exporter);
        heap_push(g, o);
        g->n_outcome_kind[kind]++;
}

int cf_gen_next_outcome(cf_gen *g, cf_buf *out, cf_buf *key, int all)
{
        if (!g->n_out || (!all && g->outs[0].inspected_ms > g->clock_ms)) return 0;
        gen_outcome o = heap_pop(g);
        cf_buf_put(out, o.json, o.json_len);
        cf_buf_puts(key, o.exporter);
        free(o.json);
        return 1;
}

void gen_outcomes_free(cf_gen *g)
{
        for (size_t i = 0; i < g->n_out; i++)
                free(g->outs[i].json);
        free(g->outs);
        g->outs = NULL;
        g->n_out = g->cap_out = 0;
}
