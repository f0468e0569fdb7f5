// keyroute_simd.cpp - keyroute.h with simdjson On-Demand: only the top-level
// exporter_id is looked at (the rest of the line is left to decode).
#include <simdjson.h>

#include <string>

extern "C" {
#include "pipeline/core/keyroute.h" /* not chain.h: its C11 atomics are not C++ */
}

struct cf_keyroute {
        simdjson::ondemand::parser parser;
        std::string pad; // a line too close to the end of its buffer is copied here
};

extern "C" cf_keyroute *cf_keyroute_new(void)
{
        return new (std::nothrow) cf_keyroute();
}

extern "C" void cf_keyroute_free(cf_keyroute *k)
{
        delete k;
}

extern "C" int32_t cf_keyroute_partition(cf_keyroute *k, const char *line, size_t len,
                                         size_t readable, int32_t n)
{
        if (n <= 1) return 0;
        const char *p = line;
        size_t cap = readable;
        if (cap < len + simdjson::SIMDJSON_PADDING) {
                k->pad.assign(line, len);
                k->pad.resize(len + simdjson::SIMDJSON_PADDING);
                p = k->pad.data();
                cap = k->pad.size();
        }
        simdjson::ondemand::document doc;
        simdjson::ondemand::object obj;
        std::string_view id;
        if (k->parser.iterate(p, len, cap).get(doc) == simdjson::SUCCESS &&
            doc.get_object().get(obj) == simdjson::SUCCESS &&
            obj.find_field_unordered("exporter_id").get_string().get(id) == simdjson::SUCCESS &&
            !id.empty())
                return cf_partition_of(id.data(), id.size(), n);
        return cf_partition_of(line, len, n);
}
