/*
 * libFuzzer target for ngx_cms_client_head.c, the header parser of the
 * internal HTTP client (health checks, discovery, reconciliation, moves:
 * every answer a bridge sends to the proxy itself).
 *
 * Input: a bridge's answer, as the client's buffer holds it.  Besides
 * memory errors, it checks: the header block ends with its first blank
 * line; a parsed answer has a status from 100 to 599, a Content-Length
 * of -1 or more, spans inside the header block without a CR or LF; and
 * the block parses the same once more bytes (the body) follow it, as the
 * client parses it again when the body is complete; and every
 * Content-Length line of an accepted block says what the parser kept
 * (two that differ are refused: RFC 9112, 6.3).
 */


#define _GNU_SOURCE

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ngx_cms_client_head.h"


#define check(cond)  if (!(cond)) { abort(); }


static void
check_span(const uint8_t *base, size_t len, const unsigned char *p,
    size_t n)
{
    if (p == NULL) {
        check(n == 0);
        return;
    }

    check(p >= base && p + n <= base + len);
    check(memchr(p, '\r', n) == NULL);
    check(memchr(p, '\n', n) == NULL);
}


/*
 * Every "Content-Length:" line of the block (found here by a plainer
 * walk than the parser's) holds want, as digits between blanks.
 */

static void
check_lengths(const uint8_t *p, size_t len, int64_t want)
{
    size_t          i, n;
    int64_t         v;
    const uint8_t  *eol, *last, *q;

    static const char  name[] = "content-length:";

    last = p + len;
    n = sizeof(name) - 1;

    for ( ;; ) {
        eol = memmem(p, last - p, "\r\n", 2);
        if (eol == NULL) {
            return;
        }

        p = eol + 2;

        if ((size_t) (last - p) < n) {
            return;
        }

        /* letters fold to lower case, nothing else (0x1a | 0x20 is ':') */

        for (i = 0; i < n; i++) {
            if ((p[i] >= 'A' && p[i] <= 'Z' ? p[i] | 0x20 : p[i])
                != name[i])
            {
                break;
            }
        }

        if (i < n) {
            continue;
        }

        for (q = p + n; *q == ' ' || *q == '\t'; q++) { /* void */ }

        for (v = 0; *q >= '0' && *q <= '9'; q++) {
            v = v * 10 + (*q - '0');
        }

        check(v == want);
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t                  end, end2;
    uint8_t                *buf, *head;
    const char             *err, *err2;
    ngx_cms_client_head_t   h, h2;

    buf = malloc(size ? size : 1);
    check(buf != NULL);
    memcpy(buf, data, size);

    end = ngx_cms_client_head_end(buf, size);

    if (end == 0) {
        check(size < 4 || memmem(buf, size, "\r\n\r\n", 4) == NULL);
        free(buf);
        return 0;
    }

    check(end >= 4 && end <= size);
    check(memcmp(buf + end - 4, "\r\n\r\n", 4) == 0);
    check(memmem(buf, end, "\r\n\r\n", 4) == buf + end - 4);

    /* the header block alone, in a buffer of its own size */

    head = malloc(end);
    check(head != NULL);
    memcpy(head, buf, end);

    end2 = ngx_cms_client_head_end(head, end);
    check(end2 == end);

    err = ngx_cms_client_head_parse(head, end, &h);

    if (err == NULL) {
        check(h.status >= 100 && h.status <= 599);
        check(h.content_length >= -1);
        check(h.status != 204 || h.content_length == 0);
        check_span(head, end, h.location, h.location_len);
        check_span(head, end, h.content_type, h.content_type_len);

        if (h.status != 204 && h.status != 304) {
            check_lengths(head, end, h.content_length);
        }
    }

    /* the same, with the body after it */

    err2 = ngx_cms_client_head_parse(buf, end, &h2);
    check((err == NULL) == (err2 == NULL));

    if (err == NULL) {
        check(h2.status == h.status);
        check(h2.content_length == h.content_length);
        check(h2.location_len == h.location_len);
        check(h2.content_type_len == h.content_type_len);
        check(h.location == NULL
              || h2.location - buf == h.location - head);
    }

    free(head);
    free(buf);

    return 0;
}
