
/*
 * ngx_cms slots: a slot record from Redis (see ngx_cms_slot_record.h).
 */


#include <string.h>

#include "ngx_cms_slot_record.h"


int
ngx_cms_slot_record_parse(const unsigned char *rec, size_t len,
    size_t id_max, ngx_cms_slot_record_t *r)
{
    long                  start, end, state;
    size_t                i;
    const unsigned char  *p, *last;

    memset(r, 0, sizeof(ngx_cms_slot_record_t));

    p = rec;
    last = rec + len;

    for (i = 0; i < NGX_CMS_SLOT_RECORD_FIELDS; i++) {
        r->f[i] = p;

        while (p < last && *p != NGX_CMS_SLOT_RECORD_SEP) {
            p++;
        }

        r->l[i] = p - r->f[i];

        if (p == last) {
            break;
        }

        p++;
    }

    if (i != NGX_CMS_SLOT_RECORD_FIELDS - 1) {
        return NGX_CMS_SLOT_RECORD_MALFORMED;
    }

    start = ngx_cms_slot_parse_index(r->f[1], r->l[1]);
    end = ngx_cms_slot_parse_index(r->f[2], r->l[2]);
    r->index = ngx_cms_slot_parse_index(r->f[5], r->l[5]);

    if (start < 0 || end < start || end - start >= NGX_CMS_SLOT_RANGE_MAX
        || r->l[3] > NGX_CMS_SLOT_AFFIX_MAX
        || r->l[4] > NGX_CMS_SLOT_AFFIX_MAX
        || r->index < start || r->index > end || r->l[0] == 0
        || r->l[0] > id_max || r->l[6] == 0)
    {
        return NGX_CMS_SLOT_RECORD_IGNORED;
    }

    memcpy(r->model.prefix, r->f[3], r->l[3]);
    r->model.prefix_len = r->l[3];
    memcpy(r->model.suffix, r->f[4], r->l[4]);
    r->model.suffix_len = r->l[4];
    r->model.start = start;
    r->model.end = end;

    state = ngx_cms_slot_parse_index(r->f[7], r->l[7]);

    if (state < 0 || state > NGX_CMS_SLOT_STUCK) {
        return NGX_CMS_SLOT_RECORD_IGNORED;
    }

    r->state = (unsigned) state;

    return NGX_CMS_SLOT_RECORD_OK;
}


int
ngx_cms_slot_record_version(const unsigned char *p, size_t len,
    uint64_t *version)
{
    size_t    i;
    uint64_t  v;

    if (len == 0 || len > 19) {
        return NGX_CMS_SLOT_RECORD_MALFORMED;
    }

    v = 0;

    for (i = 0; i < len; i++) {
        if (p[i] < '0' || p[i] > '9') {
            return NGX_CMS_SLOT_RECORD_MALFORMED;
        }

        v = v * 10 + (p[i] - '0');     /* 19 digits fit in 64 bits */
    }

    if (v > (uint64_t) INT64_MAX) {
        return NGX_CMS_SLOT_RECORD_MALFORMED;
    }

    *version = v;

    return NGX_CMS_SLOT_RECORD_OK;
}
