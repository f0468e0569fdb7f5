/*
 * global.c - framing of population-state messages (global.h).
 */
#include "pipeline/core/global.h"

#include <string.h>

#include "pipeline/core/stenc.h"

#define HDR 13 /* u8 stream, i32 route, u32 key length, u32 value length */

size_t cf_global_begin_route(cf_buf *out, cf_global_stream s, int32_t route, const void *key,
                             size_t key_len)
{
        size_t at = out->len;
        unsigned char h[HDR] = {(unsigned char)s};
        cf_st_store32(h + 1, (uint32_t)route);
        cf_st_store32(h + 5, (uint32_t)key_len);
        cf_buf_put(out, h, HDR);
        cf_buf_put(out, key, key_len);
        return at;
}

size_t cf_global_begin(cf_buf *out, cf_global_stream s, const void *key, size_t key_len)
{
        return cf_global_begin_route(out, s, -1, key, key_len);
}

void cf_global_end(cf_buf *out, size_t at)
{
        unsigned char *h = (unsigned char *)out->p + at;
        size_t vlen = out->len - at - HDR - cf_st_load32(h + 5);
        cf_st_store32(h + 9, (uint32_t)vlen);
}

void cf_global_put(cf_buf *out, cf_global_stream s, const void *key, size_t key_len,
                   const void *val, size_t val_len)
{
        size_t at = cf_global_begin(out, s, key, key_len);
        cf_buf_put(out, val, val_len);
        cf_global_end(out, at);
}

int cf_global_next(const void *data, size_t len, size_t *off, cf_global_msg *m)
{
        const unsigned char *p = (const unsigned char *)data + *off;
        size_t left = len - *off;
        if (!left) return 0;
        if (left < HDR || p[0] >= CF_GLOBAL_STREAMS) return -1;
        uint32_t kl = cf_st_load32(p + 5), vl = cf_st_load32(p + 9);
        if ((uint64_t)kl + vl > left - HDR) return -1;
        m->stream = (cf_global_stream)p[0];
        m->route = (int32_t)cf_st_load32(p + 1);
        m->key = p + HDR;
        m->key_len = kl;
        m->val = p + HDR + kl;
        m->val_len = vl;
        *off += HDR + (size_t)kl + vl;
        return 1;
}
