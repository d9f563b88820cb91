
/*
 * ngx_cms: a stream record's spool line (see ngx_cms_spool_line.h).
 */


#include <string.h>

#include "ngx_cms_spool_line.h"


/* decimal, without sprintf(): this runs for every record */

static unsigned char *
ngx_cms_spool_line_uint(unsigned char *p, uint64_t n)
{
    unsigned char   digits[20], *d;

    d = digits + sizeof(digits);

    do {
        *--d = (unsigned char) ('0' + n % 10);
        n /= 10;
    } while (n);

    memcpy(p, d, digits + sizeof(digits) - d);

    return p + (digits + sizeof(digits) - d);
}


size_t
ngx_cms_spool_line_write(unsigned char *buf, uint64_t seq, uint64_t maxlen,
    const unsigned char *key, size_t key_len, const unsigned char *record,
    size_t record_len, ngx_cms_spool_line_t *l)
{
    unsigned char  *p, *q, *rec;

    p = buf;

    if (l) {
        l->seq = p;
    }

    p = ngx_cms_spool_line_uint(p, seq);

    if (l) {
        l->seq_len = p - l->seq;
    }

    *p++ = ' ';

    if (l) {
        l->maxlen = p;
    }

    p = ngx_cms_spool_line_uint(p, maxlen);

    if (l) {
        l->maxlen_len = p - l->maxlen;
    }

    *p++ = ' ';

    memcpy(p, key, key_len);
    p += key_len;
    *p++ = ' ';

    /* raw CR/LF can only be white space in JSON: keep one record a line */

    rec = p;

    if (record_len) {
        memcpy(p, record, record_len);
        p += record_len;
    }

    for (q = rec; (q = memchr(q, '\n', p - q)) != NULL; q++) {
        *q = ' ';
    }

    for (q = rec; (q = memchr(q, '\r', p - q)) != NULL; q++) {
        *q = ' ';
    }

    if (l) {
        l->key = rec - 1 - key_len;
        l->key_len = key_len;
        l->record = rec;
        l->record_len = p - rec;
    }

    *p++ = '\n';

    return p - buf;
}


int
ngx_cms_spool_line_parse(const unsigned char *p, const unsigned char *end,
    ngx_cms_spool_line_t *l)
{
    size_t                i, n;
    const unsigned char  *start;

    memset(l, 0, sizeof(ngx_cms_spool_line_t));

    /* seq, maxlen: digits; key: not empty; each ends with a space */

    for (i = 0; i < 3; i++) {
        start = p;

        while (p < end && *p != ' ') {
            if (i < 2 && (*p < '0' || *p > '9')) {
                return -1;
            }

            p++;
        }

        n = p - start;

        if (p == end || n == 0 || (i < 2 && n > 19)) {
            return -1;
        }

        switch (i) {
        case 0:
            l->seq = start;
            l->seq_len = n;
            break;
        case 1:
            l->maxlen = start;
            l->maxlen_len = n;
            break;
        default:
            l->key = start;
            l->key_len = n;
        }

        p++;
    }

    l->record = p;
    l->record_len = end - p;

    return 0;
}
