
/*
 * ngx_cms: the JSON writer on a buffer that grows from a pool.  A failed
 * allocation leaves the writer counting (ngx_cms_json_fits() is false
 * from then on), so the caller reports it once, not at every write.
 */


#include "ngx_cms_json_pool.h"


static int ngx_cms_json_pool_grow(ngx_cms_json_t *j, size_t need);


ngx_int_t
ngx_cms_json_init_pool(ngx_cms_json_t *j, ngx_pool_t *pool, size_t size)
{
    u_char  *p;

    p = ngx_pnalloc(pool, size);
    if (p == NULL) {
        return NGX_ERROR;
    }

    ngx_cms_json_init(j, p, size);

    j->grow = ngx_cms_json_pool_grow;
    j->data = pool;

    return NGX_OK;
}


/* doubles the buffer, or more if need asks for more */

static int
ngx_cms_json_pool_grow(ngx_cms_json_t *j, size_t need)
{
    size_t   len, size;
    u_char  *p;

    len = j->pos - j->start;
    size = (j->end - j->start) * 2;

    if (size < len + need) {
        size = len + need;
    }

    p = ngx_pnalloc(j->data, size);
    if (p == NULL) {
        return 0;
    }

    ngx_memcpy(p, j->start, len);

    j->start = p;
    j->pos = p + len;
    j->end = p + size;

    return 1;
}


/* formats at most 512 bytes: numbers and literal text, never strings */

void
ngx_cms_json_printf(ngx_cms_json_t *j, const char *fmt, ...)
{
    u_char   *p;
    va_list   args;
    u_char    text[512];

    va_start(args, fmt);
    p = ngx_vslprintf(text, text + sizeof(text), fmt, args);
    va_end(args);

    ngx_cms_json_raw(j, text, p - text);
}


/* RFC 3339, UTC; null for "never" */

void
ngx_cms_json_time(ngx_cms_json_t *j, time_t t)
{
    ngx_tm_t  tm;

    if (t == 0) {
        ngx_cms_json_raw(j, "null", 4);
        return;
    }

    ngx_gmtime(t, &tm);

    ngx_cms_json_printf(j, "\"%4d-%02d-%02dT%02d:%02d:%02dZ\"",
                        tm.ngx_tm_year, tm.ngx_tm_mon, tm.ngx_tm_mday,
                        tm.ngx_tm_hour, tm.ngx_tm_min, tm.ngx_tm_sec);
}
