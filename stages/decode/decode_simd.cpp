// decode_simd.cpp - simdjson DOM fast path of the decode stage (see decode_simd.h).
//
// @locality: the worker thread that owns the decode stage (one parser per stage).
#include <simdjson.h>

#include <cstring>
#include <new>

#include "stages/decode/decode_simd.h"

struct cf_simd {
        simdjson::dom::parser parser;
        explicit cf_simd(size_t max_bytes) : parser(max_bytes) {}
};

// Capacity grows with the largest message parsed (simdjson reallocates when a
// document is larger), never past max_bytes: allocating max_bytes up front
// cost ~4x the limit per worker whatever the messages were.
extern "C" cf_simd *cf_simd_new(size_t max_bytes, size_t max_depth)
{
        cf_simd *s = new (std::nothrow) cf_simd(max_bytes);
        if (!s) return nullptr;
        size_t cap = max_bytes < 4096 ? max_bytes : 4096;
        if (s->parser.allocate(cap, max_depth) != simdjson::SUCCESS ||
            s->parser.doc.allocate(cap) != simdjson::SUCCESS) {
                delete s;
                return nullptr;
        }
        return s;
}

// Grow in powers of two (not to each new largest size) up to the limit.
static bool reserve(cf_simd *s, size_t len)
{
        if (len <= s->parser.capacity()) return true;
        size_t want = s->parser.capacity();
        while (want < len)
                want *= 2;
        if (want > s->parser.max_capacity()) want = s->parser.max_capacity();
        return s->parser.allocate(want, s->parser.max_depth()) == simdjson::SUCCESS &&
               s->parser.doc.allocate(want) == simdjson::SUCCESS;
}

extern "C" void cf_simd_free(cf_simd *s)
{
        delete s;
}

// A message's strings, kept. simdjson writes every string (keys and values, unescaped, each
// NUL-terminated) into the document's string buffer, which the next parse overwrites. One copy
// of that buffer into the batch's arena per message replaces a copy per string kept (16 arena
// allocations and memcpy calls per message: ~3 % of replay's instructions under callgrind),
// and the strings point into it. The copy's size is simdjson's own bound on what a document
// of len bytes writes there (document::allocate: 5 * len / 3, all strings "" and a separator
// each), which the buffer holds: a parse that succeeded made the document's capacity at least
// len (parser::ensure_capacity).
struct kept_strings {
        const char *base; // the parser's string buffer
        const char *copy; // its first 5 * len / 3 + 8 bytes, in the batch's arena
        int nul_free;     // the message has no \u0000: no string holds a NUL
};

static kept_strings keep_strings(cf_simd *s, cf_batch *b, const cf_record *r)
{
        kept_strings k;
        k.base = reinterpret_cast<const char *>(s->parser.doc.string_buf.get());
        k.copy = cf_decode_keep(b, k.base, 5 * r->len / 3 + 8); // <= 5 * cap / 3 + PADDING
        // simdjson refuses raw control bytes in strings, so a NUL can only come from the escape;
        // the search starts at the first backslash (most messages have none)
        const char *bs = static_cast<const char *>(std::memchr(r->data, '\\', r->len));
        k.nul_free = !bs || !memmem(bs, r->len - (size_t)(bs - r->data), "\\u0000", 6);
        return k;
}

static const char *kept(const kept_strings &k, const char *p)
{
        return k.copy + (p - k.base);
}

// One element -> cf_jv (strings point into the message's kept copy of simdjson's buffer).
static void to_jv(simdjson::dom::element e, cf_jv *v, const kept_strings &k)
{
        std::memset(v, 0, sizeof(*v));
        using T = simdjson::dom::element_type;
        switch (e.type()) {
        case T::STRING: {
                std::string_view sv = e.get_string().value_unsafe();
                v->type = CF_JV_STRING;
                v->s = kept(k, sv.data());
                v->n = (uint32_t)sv.size();
                v->nul_free = k.nul_free;
                break;
        }
        case T::INT64: v->type = CF_JV_NUMBER; v->num = (double)e.get_int64().value_unsafe(); break;
        case T::UINT64: v->type = CF_JV_NUMBER; v->num = (double)e.get_uint64().value_unsafe(); break;
        case T::DOUBLE: v->type = CF_JV_NUMBER; v->num = e.get_double().value_unsafe(); break;
        case T::BOOL: v->type = e.get_bool().value_unsafe() ? CF_JV_TRUE : CF_JV_FALSE; break;
        case T::NULL_VALUE: v->type = CF_JV_NULL; break;
        case T::ARRAY: v->type = CF_JV_ARRAY; break;
        case T::OBJECT: v->type = CF_JV_OBJECT; break;
        }
}

extern "C" int cf_simd_decode(cf_simd *s, const cf_field_index *ix, const cf_field_limits *lim,
                              cf_batch *b, cf_record *r, size_t max_values)
{
        simdjson::dom::element doc;
        if (!reserve(s, r->len)) return -1;
        // realloc_if_needed copies into a padded buffer: our messages have no padding.
        if (s->parser.parse(r->data, r->len, true).get(doc) != simdjson::SUCCESS) return -1;
        // The tape has at least one entry per value: over the limit, let jsmn decide.
        size_t tape_len = s->parser.doc.tape[0] & simdjson::internal::JSON_VALUE_MASK;
        if (tape_len > max_values) return -1;
        simdjson::dom::object obj;
        if (doc.get_object().get(obj) != simdjson::SUCCESS) return -1;
        kept_strings ks = keep_strings(s, b, r);
        uint64_t seen = 0;
        cf_jv items[CF_JV_MAX_MEMBERS];
        cf_str keys[CF_JV_MAX_MEMBERS];
        for (simdjson::dom::key_value_pair kv : obj) {
                cf_jv v;
                to_jv(kv.value, &v, ks);
                if (v.type == CF_JV_ARRAY) {
                        simdjson::dom::array arr = kv.value.get_array().value_unsafe();
                        v.n_items = (uint32_t)arr.size();
                        v.items = items;
                        uint32_t k = 0;
                        for (simdjson::dom::element e : arr) {
                                if (k == CF_JV_MAX_ITEMS) break;
                                to_jv(e, &items[k++], ks);
                        }
                }
                if (v.type == CF_JV_OBJECT &&
                    cf_field_wants_members(ix, kv.key.data(), kv.key.size())) {
                        simdjson::dom::object o = kv.value.get_object().value_unsafe();
                        v.n_items = (uint32_t)o.size();
                        v.items = items;
                        v.keys = keys;
                        v.nul_free = ks.nul_free;
                        uint32_t k = 0;
                        for (simdjson::dom::key_value_pair m : o) {
                                if (k == CF_JV_MAX_MEMBERS) break;
                                keys[k] = cf_str{kept(ks, m.key.data()), (uint32_t)m.key.size()};
                                to_jv(m.value, &items[k++], ks);
                        }
                }
                if (cf_decode_field(ix, lim, b, r, kv.key.data(), kv.key.size(), &v, &seen))
                        return 1;
        }
        return cf_decode_fields_end(b, r, seen) ? 1 : 0;
}
