/*
 * decode_fx.c - see decode_fx.h.
 */
#include "helpers/decode_fx.h"

#include <stdio.h>
#include <stdlib.h>

extern const cf_stage_plugin cf_stage_decode;

decode_fx *decode_fx_new(const cf_node *cfg)
{
        decode_fx *f = calloc(1, sizeof(*f));
        char err[512];
        cf_stage_env env = {.base_dir = CF_SRCDIR "/deploy/examples", .cfg = cfg};
        f->st.p = &cf_stage_decode;
        if (cf_stage_decode.init(&f->st, &env, err, sizeof(err))) {
                fprintf(stderr, "decode init: %s\n", err);
                cf_stage_decode.destroy(&f->st);
                free(f);
                return NULL;
        }
        cf_batch_init(&f->b, 16);
        return f;
}

void decode_fx_free(decode_fx *f)
{
        if (!f) return;
        cf_stage_decode.destroy(&f->st);
        cf_batch_destroy(&f->b);
        free(f);
}

int decode_fx_setup(void **state)
{
        *state = decode_fx_new(NULL);
        return *state ? 0 : -1;
}

int decode_fx_teardown(void **state)
{
        decode_fx_free(*state);
        return 0;
}

cf_record *decode_fx_run(decode_fx *f, const char *data, size_t len, bool outcome)
{
        cf_batch_reset(&f->b);
        f->b.now_ms = f->now_ms;
        cf_record *r = cf_batch_add(&f->b, data, len);
        r->src = (cf_source){.topic = "t", .offset = 1, .is_file = true};
        int rc =
            outcome ? cf_stage_decode.learn(&f->st, &f->b) : cf_stage_decode.process(&f->st, &f->b);
        if (rc) abort(); /* the stage never fails a batch */
        return r;
}

char *decode_fx_slurp(const char *path, size_t *len)
{
        FILE *fp = fopen(path, "rb");
        if (!fp) {
                perror(path);
                abort();
        }
        fseek(fp, 0, SEEK_END);
        long n = ftell(fp);
        fseek(fp, 0, SEEK_SET);
        char *p = malloc((size_t)n + 1);
        if (fread(p, 1, (size_t)n, fp) != (size_t)n) abort();
        fclose(fp);
        p[n] = '\0';
        *len = (size_t)n;
        return p;
}
