
/*
 * ngx_cms: the header block of a bridge's answer (see
 * ngx_cms_client_head.h).
 */


#include <string.h>

#include "ngx_cms_client_head.h"


/* the first CRLF in [p, last), or NULL */

static const unsigned char *
ngx_cms_client_head_crlf(const unsigned char *p, const unsigned char *last)
{
    while (last - p >= 2) {
        p = memchr(p, '\r', last - p - 1);
        if (p == NULL) {
            return NULL;
        }

        if (p[1] == '\n') {
            return p;
        }

        p++;
    }

    return NULL;
}


static int
ngx_cms_client_head_is(const unsigned char *p, size_t len, const char *name)
{
    size_t         i;
    unsigned char  c;

    if (len != strlen(name)) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        c = p[i];

        if (c >= 'A' && c <= 'Z') {
            c |= 0x20;
        }

        if (c != (unsigned char) (name[i] | 0x20)) {
            return 0;
        }
    }

    return 1;
}


/* digits only, at least one, no overflow (as ngx_atoof()) */

static int64_t
ngx_cms_client_head_number(const unsigned char *p, size_t len)
{
    int64_t  n;

    if (len == 0) {
        return -1;
    }

    n = 0;

    for ( /* void */ ; len; len--, p++) {
        if (*p < '0' || *p > '9') {
            return -1;
        }

        if (n > (INT64_MAX - (*p - '0')) / 10) {
            return -1;
        }

        n = n * 10 + (*p - '0');
    }

    return n;
}


size_t
ngx_cms_client_head_end(const unsigned char *p, size_t len)
{
    const unsigned char  *q, *last;

    last = p + len;

    for (q = p; last - q >= 4; q++) {
        q = memchr(q, '\r', last - q - 3);
        if (q == NULL) {
            return 0;
        }

        if (memcmp(q, "\r\n\r\n", 4) == 0) {
            return q + 4 - p;
        }
    }

    return 0;
}


const char *
ngx_cms_client_head_parse(const unsigned char *p, size_t len,
    ngx_cms_client_head_t *h)
{
    size_t                nlen;
    int64_t               n;
    const unsigned char  *last, *eol, *colon, *v, *ve;

    memset(h, 0, sizeof(ngx_cms_client_head_t));
    h->content_length = -1;

    if (len < 4) {
        return "sent an invalid status line";
    }

    /* up to the blank line's CRLF: every line ends with a CRLF before */

    last = p + len - 2;

    eol = ngx_cms_client_head_crlf(p, last);

    if (eol == NULL
        || eol - p < 12
        || memcmp(p, "HTTP/1.", 7) != 0
        || p[8] != ' '
        || p[9] < '1' || p[9] > '5'
        || p[10] < '0' || p[10] > '9'
        || p[11] < '0' || p[11] > '9'
        || (eol - p > 12 && p[12] != ' '))
    {
        return "sent an invalid status line";
    }

    h->status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + p[11] - '0';

    for (p = eol + 2; p < last; p = eol + 2) {

        eol = ngx_cms_client_head_crlf(p, last + 2);
        if (eol == NULL) {
            break;
        }

        /*
         * A bare CR or LF would end the line for another reader: what
         * follows it (another header) would hide in a value, and a
         * value with a line break must never reach a header of ours.
         */

        colon = memchr(p, ':', eol - p);
        if (colon == NULL || colon == p
            || memchr(p, '\n', eol - p) != NULL
            || memchr(p, '\r', eol - p) != NULL)
        {
            return "sent an invalid header line";
        }

        nlen = colon - p;

        for (v = colon + 1; v < eol && (*v == ' ' || *v == '\t'); v++) {
            /* void */
        }

        for (ve = eol; ve > v && (ve[-1] == ' ' || ve[-1] == '\t'); ve--) {
            /* void */
        }

        if (ngx_cms_client_head_is(p, nlen, "content-length")) {
            n = ngx_cms_client_head_number(v, ve - v);

            if (n < 0) {
                return "sent an invalid Content-Length";
            }

            /*
             * Two that differ: which one frames the body is a guess, and
             * a guess another reader may make differently (RFC 9112,
             * 6.3: unrecoverable).  The same value twice is harmless.
             */

            if (h->content_length >= 0 && h->content_length != n) {
                return "sent two different Content-Lengths";
            }

            h->content_length = n;

        } else if (ngx_cms_client_head_is(p, nlen, "transfer-encoding")) {
            return "answered an HTTP/1.0 request with Transfer-Encoding";

        } else if (ngx_cms_client_head_is(p, nlen, "location")) {
            h->location = v;
            h->location_len = ve - v;

        } else if (ngx_cms_client_head_is(p, nlen, "content-type")) {
            h->content_type = v;
            h->content_type_len = ve - v;
        }
    }

    if (h->status == 204 || h->status == 304) {
        h->content_length = 0;
    }

    return NULL;
}
