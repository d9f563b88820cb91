
/*
 * ngx_cms: one record of the Redis stream as a line of a spool file
 *
 *     <seq> <maxlen> <key> <record>\n
 *
 * written by the stream for every record (in memory or in the worker's
 * spool file) and read back from files a dead worker left, which a crash
 * can leave torn or zero-filled.  Pure code: plain buffers, no nginx
 * types, no allocation, so the reader can be fuzzed alone (t/fuzz).
 */


#ifndef _NGX_CMS_SPOOL_LINE_H_INCLUDED_
#define _NGX_CMS_SPOOL_LINE_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>


/* what a line adds to its key and record: two numbers, three spaces, LF */
#define NGX_CMS_SPOOL_LINE_EXTRA  (2 * 20 + 4)


typedef struct {
    const unsigned char  *seq;        /* decimal, 1 to 19 digits */
    size_t                seq_len;
    const unsigned char  *maxlen;     /* decimal, 1 to 19 digits */
    size_t                maxlen_len;
    const unsigned char  *key;        /* not empty, no space */
    size_t                key_len;
    const unsigned char  *record;     /* no LF; may be empty */
    size_t                record_len;
} ngx_cms_spool_line_t;


/*
 * Writes the line into buf (key_len + record_len +
 * NGX_CMS_SPOOL_LINE_EXTRA bytes at least) and returns its length, LF
 * included.  seq and maxlen are at most INT64_MAX (19 digits, what the
 * reader takes: a process's counter, a configured ngx_int_t); the key
 * must hold no byte up to the space (the stream checks it first); a CR or LF in the record (JSON white space) is written as a
 * space, so a record is always one line.  l, if not NULL, gets the spans.
 */

size_t ngx_cms_spool_line_write(unsigned char *buf, uint64_t seq,
    uint64_t maxlen, const unsigned char *key, size_t key_len,
    const unsigned char *record, size_t record_len, ngx_cms_spool_line_t *l);

/*
 * Reads the line in [p, end), end at its LF (not included).  0, or -1
 * when it is not a line this writer could have written (a torn or
 * overwritten one): the caller skips it.
 */

int ngx_cms_spool_line_parse(const unsigned char *p,
    const unsigned char *end, ngx_cms_spool_line_t *l);


#endif /* _NGX_CMS_SPOOL_LINE_H_INCLUDED_ */
