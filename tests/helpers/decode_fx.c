/*
 * decode_fx.c - see decode_fx.h.
 */
#include "helpers/decode_fx.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

cf_record *decode_fx_file(decode_fx *f, const char *path, bool outcome, char **text)
{
        size_t len;
        *text = decode_fx_slurp(path, &len);
        return decode_fx_run(f, *text, len, outcome);
}

bool decode_fx_str_eq(cf_str s, const char *lit)
{
        return s.n == strlen(lit) && !memcmp(s.p, lit, s.n);
}

int decode_fx_invalid_dir(decode_fx *f, const char *dir, bool outcome, decode_fx_check check,
                          char *err, size_t n)
{
        DIR *d = opendir(dir);
        if (!d) {
                snprintf(err, n, "%s: cannot open", dir);
                return -1;
        }
        int count = 0, rc = 0;
        for (struct dirent *e; !rc && (e = readdir(d));) {
                const char *sep = strstr(e->d_name, "__");
                if (!sep) continue;
                char code[64], path[1024];
                snprintf(code, sizeof code, "%.*s", (int)(sep - e->d_name), e->d_name);
                snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
                size_t len;
                char *p = decode_fx_slurp(path, &len);
                cf_record *r = decode_fx_run(f, p, len, outcome);
                rc = -1;
                if (r->status != CF_REC_DEAD_LETTER)
                        snprintf(err, n, "%s: accepted, expected %s", e->d_name, code);
                else if (strcmp(r->err_code, code))
                        snprintf(err, n, "%s: got %s (%s), expected %s", e->d_name, r->err_code,
                                 r->err_msg, code);
                else if (!r->err_msg[0])
                        snprintf(err, n, "%s: %s without a message", e->d_name, code);
                else
                        rc = check ? check(e->d_name, r, err, n) : 0;
                free(p);
                count++;
        }
        closedir(d);
        return rc ? -1 : count;
}
