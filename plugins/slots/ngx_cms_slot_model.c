
/*
 * ngx_cms: the scheduled-meeting slot model, pure (see the header).
 */


#include <string.h>

#include "ngx_cms_slot_model.h"


#define NGX_CMS_SLOT_FNV_OFFSET  0xcbf29ce484222325ULL
#define NGX_CMS_SLOT_FNV_PRIME   0x100000001b3ULL


static const unsigned char  ngx_cms_slot_index_token[] = "$index$";


int
ngx_cms_slot_pool_parse(const unsigned char *mapping, size_t len,
    long start, long end, ngx_cms_slot_pool_t *pool)
{
    size_t          i, n, tlen;
    unsigned char  *out;
    int             seen;

    memset(pool, 0, sizeof(ngx_cms_slot_pool_t));

    if (start < 0 || end < start || end - start >= NGX_CMS_SLOT_RANGE_MAX) {
        return -1;
    }

    tlen = sizeof(ngx_cms_slot_index_token) - 1;
    seen = 0;
    out = pool->prefix;
    n = 0;

    /* the same reading as CMS's expansion: escapes first, then $index$ */

    for (i = 0; i < len; /* void */) {

        if (mapping[i] == '\\' && i + 1 < len
            && (mapping[i + 1] == '\\' || mapping[i + 1] == '$'))
        {
            if (n == NGX_CMS_SLOT_AFFIX_MAX) {
                return -1;
            }

            out[n++] = mapping[i + 1];
            i += 2;
            continue;
        }

        if (len - i >= tlen
            && memcmp(mapping + i, ngx_cms_slot_index_token, tlen) == 0)
        {
            if (seen) {
                return -1;
            }

            seen = 1;
            pool->prefix_len = n;
            out = pool->suffix;
            n = 0;
            i += tlen;
            continue;
        }

        if (n == NGX_CMS_SLOT_AFFIX_MAX) {
            return -1;
        }

        out[n++] = mapping[i++];
    }

    if (!seen) {
        return -1;
    }

    pool->suffix_len = n;
    pool->start = start;
    pool->end = end;

    return 0;
}


long
ngx_cms_slot_parse_index(const unsigned char *s, size_t len)
{
    long    v;
    size_t  i;

    if (len == 0 || len > 9) {
        return -1;
    }

    v = 0;

    for (i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return -1;
        }

        v = v * 10 + (s[i] - '0');
    }

    return v;
}


long
ngx_cms_slot_index(const ngx_cms_slot_pool_t *pool,
    const unsigned char *name, size_t len)
{
    long                  v;
    size_t                digits;
    const unsigned char  *p;

    if (len <= pool->prefix_len + pool->suffix_len) {
        return -1;
    }

    if (memcmp(name, pool->prefix, pool->prefix_len) != 0
        || memcmp(name + len - pool->suffix_len, pool->suffix,
                  pool->suffix_len) != 0)
    {
        return -1;
    }

    p = name + pool->prefix_len;
    digits = len - pool->prefix_len - pool->suffix_len;

    /* CMS writes the index plainly: "01" is not slot 1's name */

    if (digits > 1 && p[0] == '0') {
        return -1;
    }

    v = ngx_cms_slot_parse_index(p, digits);

    if (v < pool->start || v > pool->end) {
        return -1;
    }

    return v;
}


size_t
ngx_cms_slot_name(const ngx_cms_slot_pool_t *pool, long index,
    unsigned char *buf, size_t size)
{
    size_t          n, len;
    unsigned char   digits[24];
    unsigned long   v;

    if (index < 0) {
        return 0;
    }

    v = (unsigned long) index;
    n = sizeof(digits);

    do {
        digits[--n] = (unsigned char) ('0' + v % 10);
        v /= 10;
    } while (v);

    len = pool->prefix_len + (sizeof(digits) - n) + pool->suffix_len;

    if (len > size) {
        return 0;
    }

    memcpy(buf, pool->prefix, pool->prefix_len);
    memcpy(buf + pool->prefix_len, digits + n, sizeof(digits) - n);
    memcpy(buf + pool->prefix_len + (sizeof(digits) - n), pool->suffix,
           pool->suffix_len);

    return len;
}


int
ngx_cms_slot_pool_same(const ngx_cms_slot_pool_t *a,
    const ngx_cms_slot_pool_t *b)
{
    return a->start == b->start && a->end == b->end
           && a->prefix_len == b->prefix_len
           && a->suffix_len == b->suffix_len
           && memcmp(a->prefix, b->prefix, a->prefix_len) == 0
           && memcmp(a->suffix, b->suffix, a->suffix_len) == 0;
}


static uint64_t
ngx_cms_slot_fnv(uint64_t h, const unsigned char *p, size_t len)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        h ^= p[i];
        h *= NGX_CMS_SLOT_FNV_PRIME;
    }

    return h;
}


uint64_t
ngx_cms_slot_meeting_key(const unsigned char *name, size_t name_len,
    const unsigned char *secret, size_t secret_len)
{
    uint64_t              h;
    static unsigned char  sep = 0xff;   /* never in UTF-8 text */

    h = ngx_cms_slot_fnv(NGX_CMS_SLOT_FNV_OFFSET, name, name_len);
    h = ngx_cms_slot_fnv(h, &sep, 1);

    if (secret) {
        h = ngx_cms_slot_fnv(h, secret, secret_len);
    }

    return h ? h : 1;
}


uint64_t
ngx_cms_slot_name_key(const unsigned char *name, size_t name_len)
{
    uint64_t  h;

    h = ngx_cms_slot_fnv(NGX_CMS_SLOT_FNV_OFFSET, name, name_len);

    return h ? h : 1;
}


/* ASCII case-insensitive: "TRUE" may well open a space on the bridge */

static int
ngx_cms_slot_is(const unsigned char *v, size_t len, const char *word)
{
    size_t  i, n;

    n = strlen(word);

    if (v == NULL || len != n) {
        return 0;
    }

    for (i = 0; i < n; i++) {
        if ((v[i] | 0x20) != (unsigned char) word[i]) {
            return 0;
        }
    }

    return 1;
}


ngx_cms_slot_shape_e
ngx_cms_slot_shape(const ngx_cms_slot_pool_t *pool, long index,
    const ngx_cms_slot_put_t *put)
{
    long  named;

    if (put->name == NULL || put->name_len == 0) {
        return NGX_CMS_SLOT_PUT_OTHER;
    }

    named = ngx_cms_slot_index(pool, put->name, put->name_len);

    if (ngx_cms_slot_is(put->non_member_access, put->non_member_access_len,
                        "true"))
    {
        /* a placeholder name is never a meeting */
        return (named < 0) ? NGX_CMS_SLOT_PUT_OPEN : NGX_CMS_SLOT_PUT_OTHER;
    }

    if (ngx_cms_slot_is(put->non_member_access, put->non_member_access_len,
                        "false")
        && named == index)
    {
        return NGX_CMS_SLOT_PUT_CLOSE;
    }

    return NGX_CMS_SLOT_PUT_OTHER;
}


ngx_cms_slot_action_e
ngx_cms_slot_decide_shape(ngx_cms_slot_shape_e shape,
    const ngx_cms_slot_view_t *slot, uint64_t key, uint64_t name_key,
    int has_secret)
{
    switch (shape) {

    case NGX_CMS_SLOT_PUT_OPEN:

        if (slot->state == NGX_CMS_SLOT_FREE) {
            return NGX_CMS_SLOT_ACT_CHECKOUT;
        }

        if (slot->key == key
            || (!has_secret && slot->name_key == name_key))
        {
            return NGX_CMS_SLOT_ACT_EXTEND;
        }

        return NGX_CMS_SLOT_ACT_CONFLICT;

    case NGX_CMS_SLOT_PUT_CLOSE:
        return (slot->state == NGX_CMS_SLOT_FREE) ? NGX_CMS_SLOT_ACT_NONE
                                                  : NGX_CMS_SLOT_ACT_CHECKIN;

    default:
        return NGX_CMS_SLOT_ACT_NONE;
    }
}


ngx_cms_slot_action_e
ngx_cms_slot_decide(const ngx_cms_slot_pool_t *pool, long index,
    const ngx_cms_slot_view_t *slot, const ngx_cms_slot_put_t *put,
    uint64_t *key, uint64_t *name_key)
{
    ngx_cms_slot_shape_e  shape;

    *key = 0;
    *name_key = 0;

    shape = ngx_cms_slot_shape(pool, index, put);

    if (shape == NGX_CMS_SLOT_PUT_OPEN) {
        *key = ngx_cms_slot_meeting_key(put->name, put->name_len,
                                        put->secret, put->secret_len);
        *name_key = ngx_cms_slot_name_key(put->name, put->name_len);
    }

    return ngx_cms_slot_decide_shape(shape, slot, *key, *name_key,
                                     put->secret != NULL);
}


const char *
ngx_cms_slot_action_name(ngx_cms_slot_action_e action)
{
    switch (action) {
    case NGX_CMS_SLOT_ACT_CHECKOUT:
        return "checkout";
    case NGX_CMS_SLOT_ACT_EXTEND:
        return "extend";
    case NGX_CMS_SLOT_ACT_CHECKIN:
        return "checkin";
    case NGX_CMS_SLOT_ACT_CONFLICT:
        return "conflict";
    default:
        return "none";
    }
}


const char *
ngx_cms_slot_state_name(ngx_cms_slot_state_e state)
{
    switch (state) {
    case NGX_CMS_SLOT_IN_USE:
        return "in_use";
    case NGX_CMS_SLOT_STUCK:
        return "stuck";
    default:
        return "free";
    }
}


const char *
ngx_cms_slot_shape_name(ngx_cms_slot_shape_e shape)
{
    switch (shape) {
    case NGX_CMS_SLOT_PUT_OPEN:
        return "open";
    case NGX_CMS_SLOT_PUT_CLOSE:
        return "close";
    default:
        return "other";
    }
}
