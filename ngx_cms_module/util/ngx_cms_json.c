
/*
 * ngx_cms: a small JSON writer for the status and admin answers and the
 * event details.  The buffer grows from the pool; a failed allocation
 * is remembered and reported once by the caller, not at every write.
 * Strings are escaped so that whatever a bridge sent (names, addresses)
 * cannot break the document: control characters and bytes outside ASCII
 * become \u escapes.
 */


#include "ngx_cms_json.h"
#include "ngx_cms_json_escape.h"


static ngx_int_t ngx_cms_json_reserve(ngx_cms_json_t *j, size_t size);


ngx_int_t
ngx_cms_json_init(ngx_cms_json_t *j, ngx_pool_t *pool, size_t size)
{
    j->pool = pool;
    j->failed = 0;

    j->start = ngx_pnalloc(pool, size);
    if (j->start == NULL) {
        return NGX_ERROR;
    }

    j->pos = j->start;
    j->end = j->start + size;

    return NGX_OK;
}


static ngx_int_t
ngx_cms_json_reserve(ngx_cms_json_t *j, size_t size)
{
    size_t   len, n;
    u_char  *p;

    if (j->failed) {
        return NGX_ERROR;
    }

    if ((size_t) (j->end - j->pos) >= size) {
        return NGX_OK;
    }

    len = j->pos - j->start;
    n = (j->end - j->start) * 2;

    if (n < len + size) {
        n = len + size;
    }

    p = ngx_pnalloc(j->pool, n);
    if (p == NULL) {
        j->failed = 1;
        return NGX_ERROR;
    }

    ngx_memcpy(p, j->start, len);

    j->start = p;
    j->pos = p + len;
    j->end = p + n;

    return NGX_OK;
}


/* formats at most 512 bytes: numbers and literal text, never strings */

void
ngx_cms_json_printf(ngx_cms_json_t *j, const char *fmt, ...)
{
    va_list  args;

    if (ngx_cms_json_reserve(j, 512) != NGX_OK) {
        return;
    }

    va_start(args, fmt);
    j->pos = ngx_vslprintf(j->pos, j->pos + 512, fmt, args);
    va_end(args);
}


void
ngx_cms_json_string(ngx_cms_json_t *j, u_char *s, size_t len)
{
    if (ngx_cms_json_reserve(j, len * 6 + 2) != NGX_OK) {
        return;
    }

    j->pos = ngx_cms_json_escape(j->pos, j->end, s, len);
}


void
ngx_cms_json_raw(ngx_cms_json_t *j, u_char *s, size_t len)
{
    if (ngx_cms_json_reserve(j, len) != NGX_OK) {
        return;
    }

    j->pos = ngx_cpymem(j->pos, s, len);
}


/* RFC 3339, UTC; null for "never" */

void
ngx_cms_json_time(ngx_cms_json_t *j, time_t t)
{
    ngx_tm_t  tm;

    if (t == 0) {
        ngx_cms_json_raw(j, (u_char *) "null", 4);
        return;
    }

    ngx_gmtime(t, &tm);

    ngx_cms_json_printf(j, "\"%4d-%02d-%02dT%02d:%02d:%02dZ\"",
                        tm.ngx_tm_year, tm.ngx_tm_mon, tm.ngx_tm_mday,
                        tm.ngx_tm_hour, tm.ngx_tm_min, tm.ngx_tm_sec);
}


/*
 * A quoted, escaped string (the project's one escaper: UTF-8 names stay
 * intact); needs up to len * 6 + 2 bytes, and is cut to what fits.
 */

u_char *
ngx_cms_json_escape(u_char *p, u_char *last, u_char *s, size_t len)
{
    size_t  room;

    if (p + 2 > last) {
        return p;
    }

    room = last - p - 2;

    if (ngx_cms_json_escaped_len(s, len) > room) {
        /* a cut sequence comes out as \u00XX bytes: still valid JSON */
        len = room / 6;
    }

    *p++ = '"';
    p = ngx_cms_json_escape_utf8(p, s, len);
    *p++ = '"';

    return p;
}
