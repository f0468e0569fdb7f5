// utf8_simd.cpp - simdjson's SIMD UTF-8 validator behind a C function (utf8.c).
#include <simdjson.h>

extern "C" int cf_utf8_valid_simd(const char *s, size_t n)
{
        return simdjson::validate_utf8(s, n) ? 1 : 0;
}
