/*
 * auth.c - users and sessions: Argon2id password hashes (libargon2),
 * session tokens from getrandom(2) kept in the store only as SHA-256 digests
 * (GnuTLS), HttpOnly + SameSite=Strict cookies (+ Secure under TLS), a
 * per-session CSRF token, and a login rate limit per user name and per
 * client address. Passwords and tokens are never logged.
 */
#include <arpa/inet.h>
#include <argon2.h>
#include <gnutls/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "console/http_int.h"
#include "pipeline/core/clock.h"
#include "pipeline/core/log.h"

#define SESSION_COOKIE "cf_session"
#define LOGIN_COOKIE   "cf_login"

void cf_random_hex(char *out, size_t n)
{
        unsigned char b[64];
        if (n > sizeof b) n = sizeof b;
        size_t got = 0;
        while (got < n) {
                ssize_t k = getrandom(b + got, n - got, 0);
                if (k > 0) got += (size_t)k;
        }
        for (size_t i = 0; i < n; i++)
                sprintf(out + 2 * i, "%02x", b[i]);
}

bool cf_secure_eq(const char *a, const char *b)
{
        size_t n = strlen(a), m = strlen(b);
        unsigned char d = n != m;
        for (size_t i = 0; i < n && i < m; i++)
                d |= (unsigned char)(a[i] ^ b[i]);
        return d == 0 && n > 0;
}

/* The store keeps SHA-256(token): a copy of the database opens no session. */
static void token_digest(const char *token, char out[65])
{
        unsigned char h[32];
        gnutls_hash_fast(GNUTLS_DIG_SHA256, token, strlen(token), h);
        for (int i = 0; i < 32; i++)
                sprintf(out + 2 * i, "%02x", h[i]);
}

static int hash_password(const cf_console_cfg *cc, const char *pw, char *out, size_t n)
{
        unsigned char salt[16];
        size_t got = 0;
        while (got < sizeof salt) {
                ssize_t k = getrandom(salt + got, sizeof salt - got, 0);
                if (k > 0) got += (size_t)k;
        }
        return argon2id_hash_encoded((uint32_t)cc->argon2_t, (uint32_t)cc->argon2_m_kib, 1, pw,
                                     strlen(pw), salt, sizeof salt, 32, out, n) == ARGON2_OK
                   ? 0
                   : -1;
}

static const char *cookie(cf_req *r, const char *name)
{
        return MHD_lookup_connection_value(r->conn, MHD_COOKIE_KIND, name);
}

static void client_addr(cf_req *r, char *out, size_t n)
{
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        snprintf(out, n, "?");
        if (ci && ci->client_addr && ci->client_addr->sa_family == AF_INET)
                inet_ntop(AF_INET, &((struct sockaddr_in *)ci->client_addr)->sin_addr, out,
                          (socklen_t)n);
}

/* Failures of key in the current window (fail: add one). @lock lim_mtx inside */
static int limit_check(cf_console *c, const char *key, bool fail, bool reset)
{
        int64_t now = cf_mono_ms();
        pthread_mutex_lock(&c->lim_mtx);
        cf_login_slot *slot = NULL, *oldest = &c->lim[0];
        for (int i = 0; i < CF_LIMIT_MAX && !slot; i++) {
                if (!strcmp(c->lim[i].key, key)) slot = &c->lim[i];
                if (c->lim[i].window_start_ms < oldest->window_start_ms) oldest = &c->lim[i];
        }
        if (!slot && fail) { /* the oldest slot makes room */
                slot = oldest;
                snprintf(slot->key, sizeof slot->key, "%s", key);
                slot->failures = 0;
                slot->window_start_ms = now;
        }
        int n = 0;
        if (slot) {
                if (now - slot->window_start_ms > c->cc.login_window_ms)
                        slot->failures = 0, slot->window_start_ms = now;
                if (fail) slot->failures++;
                if (reset) slot->failures = 0;
                n = slot->failures;
        }
        pthread_mutex_unlock(&c->lim_mtx);
        return n;
}

static void login_form(cf_req *r, const char *msg)
{
        char pre[33];
        const char *have = cookie(r, LOGIN_COOKIE);
        if (have && strlen(have) == 32) {
                snprintf(pre, sizeof pre, "%s", have);
        } else {
                cf_random_hex(pre, 16);
                snprintf(r->cookies[1], sizeof r->cookies[1],
                         LOGIN_COOKIE "=%s; Path=/login; HttpOnly; SameSite=Strict%s", pre,
                         r->c->tls_cert_pem || r->c->cc.secure_cookie ? "; Secure" : "");
        }
        snprintf(r->csrf, sizeof r->csrf, "%s", pre);
        r->role = CF_ROLE_NONE;
        cf_page_begin(r, "Log in");
        cf_buf_puts(&r->out, "<form class=\"login\" method=\"post\" action=\"/login\">"
                             "<h1>customsflow review console</h1>");
        if (msg) {
                cf_buf_puts(&r->out, "<p class=\"error\" id=\"login-error\">");
                cf_html(&r->out, msg);
                cf_buf_puts(&r->out, "</p>");
        }
        cf_buf_puts(&r->out,
                    "<label>User <input name=\"user\" id=\"user\" autocomplete=\"username\""
                    " required autofocus></label><label>Password <input type=\"password\""
                    " name=\"password\" id=\"password\" autocomplete=\"current-password\""
                    " required></label>");
        cf_csrf_field(r);
        cf_buf_puts(&r->out, "<button type=\"submit\" id=\"login\">Log in</button></form>");
        cf_page_end(r);
}

static void login_post(cf_req *r)
{
        cf_console *c = r->c;
        const char *user = cf_req_arg(r, "user"), *pw = cf_req_arg(r, "password");
        const char *t = cf_req_arg(r, "csrf"), *pre = cookie(r, LOGIN_COOKIE);
        if (!t || !pre || !cf_secure_eq(t, pre))
                return cf_fail(r, 403, "missing or wrong CSRF token; reload the login page");
        if (!user || !pw || !*user || strlen(user) > 64 || strlen(pw) > 1024)
                return login_form(r, "user and password are required");
        char ukey[96], akey[96], addr[64];
        client_addr(r, addr, sizeof addr);
        snprintf(ukey, sizeof ukey, "u:%s", user);
        snprintf(akey, sizeof akey, "a:%s", addr);
        int max = (int)c->cc.login_max_failures;
        if (limit_check(c, ukey, false, false) >= max ||
            limit_check(c, akey, false, false) >= max) {
                cf_counter_add_shared(c->m.login_limited, 1);
                cf_log(CF_LOG_WARN, "console", "login rate limit reached (client %s)", addr);
                r->code = 429;
                return login_form(r, "too many failed logins; wait a few minutes");
        }
        cf_user u;
        char err[256];
        bool ok = !cf_store_user_get(r->s, user, &u, err, sizeof err) && !u.disabled &&
                  argon2id_verify(u.hash, pw, strlen(pw)) == ARGON2_OK;
        if (!ok) {
                limit_check(c, ukey, true, false);
                limit_check(c, akey, true, false);
                cf_counter_add_shared(c->m.login_failures, 1);
                r->code = 401;
                return login_form(r, "wrong user or password");
        }
        limit_check(c, ukey, false, true);
        char token[65], digest[65], csrf[65];
        cf_random_hex(token, 32);
        cf_random_hex(csrf, 32);
        token_digest(token, digest);
        int64_t now = cf_now_ms();
        cf_store_session_del(r->s, NULL, now); /* expired ones */
        if (cf_store_session_put(r->s, digest, u.id, csrf, now + c->cc.session_ttl_ms, err,
                                 sizeof err))
                return cf_fail(r, 500, err);
        snprintf(r->cookies[0], sizeof r->cookies[0],
                 SESSION_COOKIE "=%s; Path=/; HttpOnly; SameSite=Strict; Max-Age=%lld%s", token,
                 (long long)(c->cc.session_ttl_ms / 1000),
                 c->tls_cert_pem || c->cc.secure_cookie ? "; Secure" : "");
        cf_counter_add_shared(c->m.logins, 1);
        cf_log(CF_LOG_INFO, "console", "login: %s (%s)", u.name, u.role);
        cf_redirect(r, "/queue");
}

void cf_page_login(cf_req *r)
{
        if (!strcmp(r->method, "POST")) return login_post(r);
        if (strcmp(r->method, "GET")) return cf_fail(r, 405, "method not allowed");
        login_form(r, NULL);
}

void cf_page_logout(cf_req *r)
{
        char digest[65];
        token_digest(r->token, digest);
        cf_store_session_del(r->s, digest, cf_now_ms());
        snprintf(r->cookies[0], sizeof r->cookies[0],
                 SESSION_COOKIE "=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
        cf_redirect(r, "/login");
}

void cf_auth_session(cf_req *r)
{
        r->role = CF_ROLE_NONE;
        const char *t = cookie(r, SESSION_COOKIE);
        if (!t || strlen(t) != 64) return;
        char digest[65], err[256];
        token_digest(t, digest);
        if (cf_store_session_get(r->s, digest, cf_now_ms(), &r->user, r->csrf, sizeof r->csrf, err,
                                 sizeof err))
                return;
        snprintf(r->token, sizeof r->token, "%s", t);
        r->role = cf_role_of(r->user.role);
}

int cf_console_user(const cf_console_cfg *cc, const char *db, const char *action, const char *name,
                    const char *role, const char *password, char *errstr, size_t errstr_size)
{
        bool add = !strcmp(action, "add"), pw = add || !strcmp(action, "passwd");
        if (!add && !pw && strcmp(action, "disable") && strcmp(action, "enable"))
                return snprintf(errstr, errstr_size, "unknown action '%s'", action), -1;
        if (!*name || strlen(name) > 64)
                return snprintf(errstr, errstr_size, "a user name is 1 to 64 bytes"), -1;
        if (role && cf_role_of(role) == CF_ROLE_NONE)
                return snprintf(errstr, errstr_size, "--role: viewer, analyst or supervisor"), -1;
        if (pw && (!password || strlen(password) < 8))
                return snprintf(errstr, errstr_size, "a password has at least 8 characters"), -1;
        cf_store *s = cf_store_open(db, errstr, errstr_size);
        if (!s) return -1;
        cf_user u = {0};
        int rc = 0;
        if (!add && cf_store_user_get(s, name, &u, errstr, errstr_size)) {
                snprintf(errstr, errstr_size, "no user '%s'", name);
                rc = -1;
        }
        if (!rc) {
                snprintf(u.name, sizeof u.name, "%s", name);
                if (role) snprintf(u.role, sizeof u.role, "%s", role);
                if (!*u.role) snprintf(u.role, sizeof u.role, "analyst");
                if (!strcmp(action, "disable")) u.disabled = true;
                if (!strcmp(action, "enable")) u.disabled = false;
                if (pw && hash_password(cc, password, u.hash, sizeof u.hash)) {
                        snprintf(errstr, errstr_size, "argon2id failed");
                        rc = -1;
                }
        }
        if (!rc) rc = cf_store_user_put(s, &u, add, errstr, errstr_size);
        cf_store_close(s);
        return rc;
}
