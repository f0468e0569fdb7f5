/*
 * html.c - HTML output: escaping of every value (the evidence carries
 * attacker-controlled strings), URL encoding, the page frame.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "console/http_int.h"

void cf_htmln(cf_buf *b, const char *s, size_t n)
{
        size_t from = 0;
        for (size_t i = 0; i < n; i++) {
                const char *rep = NULL;
                switch (s[i]) {
                case '&':
                        rep = "&amp;";
                        break;
                case '<':
                        rep = "&lt;";
                        break;
                case '>':
                        rep = "&gt;";
                        break;
                case '"':
                        rep = "&quot;";
                        break;
                case '\'':
                        rep = "&#39;";
                        break;
                default:
                        continue;
                }
                cf_buf_put(b, s + from, i - from);
                cf_buf_puts(b, rep);
                from = i + 1;
        }
        cf_buf_put(b, s + from, n - from);
}

void cf_html(cf_buf *b, const char *s)
{
        if (s) cf_htmln(b, s, strlen(s));
}

void cf_html_status(cf_buf *b, const char *status, const char *id)
{
        cf_buf_puts(b, "<span class=\"status status-");
        cf_html(b, status);
        cf_buf_putc(b, '"');
        if (id) cf_buf_printf(b, " id=\"%s\"", id);
        cf_buf_putc(b, '>');
        cf_html(b, status);
        cf_buf_puts(b, "</span>");
}

void cf_urlenc(cf_buf *b, const char *s)
{
        for (; s && *s; s++) {
                unsigned char ch = (unsigned char)*s;
                if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                    (ch >= '0' && ch <= '9') || strchr("-_.~", ch))
                        cf_buf_putc(b, (char)ch);
                else
                        cf_buf_printf(b, "%%%02X", ch);
        }
}

void cf_csrf_field(cf_req *r)
{
        cf_buf_puts(&r->out, "<input type=\"hidden\" name=\"csrf\" value=\"");
        cf_html(&r->out, r->csrf);
        cf_buf_puts(&r->out, "\">");
}

void cf_html_time(cf_buf *b, int64_t ms)
{
        time_t t = (time_t)(ms / 1000);
        struct tm tm;
        char s[40];
        gmtime_r(&t, &tm);
        strftime(s, sizeof s, "%Y-%m-%d %H:%M:%S UTC", &tm);
        cf_buf_puts(b, s);
}

void cf_html_num(cf_buf *b, double v, int decimals)
{
        char s[64], out[96];
        if (!isfinite(v)) return cf_buf_puts(b, "-");
        snprintf(s, sizeof s, "%.*f", decimals, v);
        /* trailing zeros of the fraction go, then thousands separators */
        char *dot = strchr(s, '.');
        if (dot) {
                char *e = s + strlen(s) - 1;
                while (e > dot && *e == '0')
                        *e-- = '\0';
                if (e == dot) *e = '\0';
        }
        const char *digits = s + (s[0] == '-');
        size_t int_len = strcspn(digits, ".");
        size_t o = 0;
        if (s[0] == '-') out[o++] = '-';
        for (size_t i = 0; i < int_len; i++) {
                if (i && (int_len - i) % 3 == 0) out[o++] = ',';
                out[o++] = digits[i];
        }
        snprintf(out + o, sizeof out - o, "%s", digits + int_len);
        cf_buf_puts(b, out);
}

void cf_page_begin(cf_req *r, const char *title)
{
        r->code = r->code ? r->code : 200;
        r->ctype = "text/html; charset=utf-8";
        cf_buf *b = &r->out;
        cf_buf_puts(b, "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
                       "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
                       "<title>");
        cf_html(b, title);
        cf_buf_puts(b,
                    " - customsflow</title><link rel=\"stylesheet\" href=\"/static/console.css\">"
                    "<script src=\"/static/console.js\" defer></script></head><body>");
        if (r->role != CF_ROLE_NONE) {
                cf_buf_puts(b, "<header><a class=\"brand\" href=\"/queue\">customsflow</a>"
                               "<nav><a href=\"/queue\" id=\"nav-queue\">Queue</a>"
                               "<a href=\"/dashboard\" id=\"nav-dashboard\">Dashboard</a></nav>"
                               "<span class=\"who\">");
                cf_html(b, r->user.name);
                cf_buf_puts(b, " <small>");
                cf_html(b, r->user.role);
                cf_buf_puts(b, "</small></span><form method=\"post\" action=\"/logout\">");
                cf_csrf_field(r);
                cf_buf_puts(b, "<button type=\"submit\" class=\"link\">Log out</button></form>"
                               "</header>");
        }
        cf_buf_puts(b, "<main>");
}

void cf_page_end(cf_req *r)
{
        cf_buf_puts(&r->out, "</main></body></html>\n");
}
