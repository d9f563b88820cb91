/*
 * libFuzzer target for the Redis stream's spool lines
 * (ngx_cms_module/lib/ngx_cms_spool_line.c): what a worker writes for
 * every record, and what a later worker reads back from a file a dead
 * one left, torn or overwritten as a crash may leave it.
 *
 * Mode (first byte, even): the rest is a spool file's content, cut at
 * each LF as the replay cuts it; a line read has decimal seq and maxlen
 * (1 to 19 digits), a key without a space, spans inside the line that
 * put back together with single spaces give the line.
 *
 * Mode (odd): a round trip: seq and maxlen (8 bytes each), a key (the
 * bytes up to the first one no key may hold) and a record (the rest) are
 * written, and the line is one line (one LF, at its end) that reads back
 * as the same numbers, key and record, but for CR and LF, written as
 * spaces.
 */


#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ngx_cms_spool_line.h"


#define check(cond)  if (!(cond)) { abort(); }


static uint64_t
number(const uint8_t *p, size_t len)
{
    size_t    i;
    uint64_t  v;

    check(len >= 1 && len <= 20);

    v = 0;

    for (i = 0; i < len; i++) {
        check(p[i] >= '0' && p[i] <= '9');
        v = v * 10 + (p[i] - '0');
    }

    return v;
}


static void
read_lines(const uint8_t *data, size_t size)
{
    const uint8_t         *p, *end, *nl;
    ngx_cms_spool_line_t   l;

    p = data;
    end = data + size;

    while (p < end && (nl = memchr(p, '\n', end - p)) != NULL) {

        if (ngx_cms_spool_line_parse(p, nl, &l) == 0) {
            check(l.seq == p);
            check(l.seq_len >= 1 && l.seq_len <= 19);
            (void) number(l.seq, l.seq_len);
            check(l.maxlen == l.seq + l.seq_len + 1);
            check(l.maxlen_len >= 1 && l.maxlen_len <= 19);
            (void) number(l.maxlen, l.maxlen_len);
            check(l.key == l.maxlen + l.maxlen_len + 1);
            check(l.key_len >= 1);
            check(memchr(l.key, ' ', l.key_len) == NULL);
            check(l.record == l.key + l.key_len + 1);
            check(l.record + l.record_len == nl);
            check(l.seq[l.seq_len] == ' ' && l.maxlen[l.maxlen_len] == ' '
                  && l.key[l.key_len] == ' ');
        }

        p = nl + 1;
    }
}


static void
round_trip(const uint8_t *data, size_t size)
{
    size_t                 i, n, key_len, rec_len;
    uint8_t               *buf;
    uint64_t               seq, maxlen;
    const uint8_t         *key, *rec;
    ngx_cms_spool_line_t   w, r;

    static const uint8_t  k = 'k';

    if (size < 16) {
        return;
    }

    /* at most 19 digits each, as the reader takes (see the header) */

    memcpy(&seq, data, 8);
    memcpy(&maxlen, data + 8, 8);
    seq &= INT64_MAX;
    maxlen &= INT64_MAX;
    data += 16;
    size -= 16;

    /* what the stream accepts as a key: no control, space or DEL */

    for (key_len = 0;
         key_len < size && key_len < 512
         && data[key_len] > ' ' && data[key_len] != 0x7f;
         key_len++)
    {
        /* void */
    }

    key = key_len ? data : &k;
    rec = data + key_len;
    rec_len = size - key_len;
    key_len = key_len ? key_len : 1;

    buf = malloc(key_len + rec_len + NGX_CMS_SPOOL_LINE_EXTRA);
    check(buf != NULL);

    n = ngx_cms_spool_line_write(buf, seq, maxlen, key, key_len, rec,
                                 rec_len, &w);

    check(n <= key_len + rec_len + NGX_CMS_SPOOL_LINE_EXTRA);
    check(buf[n - 1] == '\n');
    check(memchr(buf, '\n', n - 1) == NULL);

    check(ngx_cms_spool_line_parse(buf, buf + n - 1, &r) == 0);

    check(r.seq == w.seq && r.seq_len == w.seq_len);
    check(r.maxlen == w.maxlen && r.maxlen_len == w.maxlen_len);
    check(r.key == w.key && r.key_len == w.key_len);
    check(r.record == w.record && r.record_len == w.record_len);

    check(number(r.seq, r.seq_len) == seq);
    check(number(r.maxlen, r.maxlen_len) == maxlen);
    check(r.key_len == key_len && memcmp(r.key, key, key_len) == 0);
    check(r.record_len == rec_len);

    for (i = 0; i < rec_len; i++) {
        check(r.record[i] == ((rec[i] == '\r' || rec[i] == '\n')
                              ? ' ' : rec[i]));
    }

    free(buf);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) {
        return 0;
    }

    if ((data[0] & 1) == 0) {
        read_lines(data + 1, size - 1);

    } else {
        round_trip(data + 1, size - 1);
    }

    return 0;
}
