
/*
 * ngx_cms: writing JSON text, the one writer (include/ngx_cms_json.h).
 *
 * Every string goes out as valid UTF-8 JSON whatever the bytes were:
 * parameter values are decoded from the request body, names come from
 * bridges, and either can hold anything.  Well-formed UTF-8 is copied; a
 * byte that is not part of a well-formed sequence is written as \u00XX
 * (its Latin-1 reading), so the line stays valid JSON and the byte
 * value is still visible to an auditor.  Control characters are escaped,
 * so one record is always one line.
 *
 * Speed: an audit record is written for every audited call, and most of its
 * bytes are plain ASCII (ids, paths, names).  Strings are scanned once,
 * eight bytes at a time while they are plain, and copied in those runs;
 * only bytes from 0x80 up go through the UTF-8 check.
 */


#include <string.h>

#include "ngx_cms_json.h"
#include "ngx_cms_json_escape.h"


#define NGX_CMS_JSON_VALID_DEPTH  16



static int ngx_cms_json_overflow(ngx_cms_json_t *j, size_t need);
static void ngx_cms_json_value(ngx_cms_json_t *j);
static const unsigned char *ngx_cms_json_skip_value(
    const unsigned char *p, const unsigned char *end, int depth);
static const unsigned char *ngx_cms_json_skip_ws(const unsigned char *p,
    const unsigned char *end);
static const unsigned char *ngx_cms_json_skip_string(
    const unsigned char *p, const unsigned char *end);
static const unsigned char *ngx_cms_json_skip_number(
    const unsigned char *p, const unsigned char *end);
static const unsigned char *ngx_cms_json_skip_word(
    const unsigned char *p, const unsigned char *end, const char *word);


void
ngx_cms_json_init(ngx_cms_json_t *j, unsigned char *buf,
    size_t size)
{
    memset(j, 0, sizeof(ngx_cms_json_t));

    j->start = buf;
    j->pos = buf;
    j->end = buf ? buf + size : NULL;
}


/*
 * need more bytes do not fit: a bigger buffer if the writer can grow, or
 * else from here on the text is only counted; returns 1 if they fit now
 */

static int
ngx_cms_json_overflow(ngx_cms_json_t *j, size_t need)
{
    if (j->grow != NULL && j->grow(j, need)) {
        return 1;
    }

    j->len = j->pos - j->start;
    j->pos = NULL;

    return 0;
}


/* room for len more bytes, if the text is still being written */

static inline int
ngx_cms_json_room(ngx_cms_json_t *j, size_t len)
{
    if (j->pos == NULL) {
        return 0;
    }

    if (len <= (size_t) (j->end - j->pos)) {
        return 1;
    }

    return ngx_cms_json_overflow(j, len);
}


static inline void
ngx_cms_json_put(ngx_cms_json_t *j, const void *s, size_t len)
{
    if (ngx_cms_json_room(j, len)) {
        memcpy(j->pos, s, len);
        j->pos += len;
        return;
    }

    j->len += len;
}


static inline void
ngx_cms_json_put1(ngx_cms_json_t *j, unsigned char c)
{
    if (j->pos && j->pos < j->end) {
        *j->pos++ = c;
        return;
    }

    ngx_cms_json_put(j, &c, 1);
}


/* len bytes escaped: written when they surely fit, counted otherwise */

static void
ngx_cms_json_put_escaped(ngx_cms_json_t *j, const unsigned char *s,
    size_t len)
{
    size_t  n;

    if (j->pos) {
        if (len <= (size_t) (j->end - j->pos) / 6) {
            j->pos = ngx_cms_json_escape_utf8(j->pos, s, len);
            return;
        }

        /* near the end of the buffer: only now is the exact size needed */

        n = ngx_cms_json_escaped_len(s, len);

        if (ngx_cms_json_room(j, n)) {
            j->pos = ngx_cms_json_escape_utf8(j->pos, s, len);
            return;
        }

        j->len += n;
        return;
    }

    j->len += ngx_cms_json_escaped_len(s, len);
}


/*
 * Before a value: the comma that separates it from the previous element
 * of an array.  Inside an object the key has written it already.
 */

static void
ngx_cms_json_value(ngx_cms_json_t *j)
{
    if (j->depth == 0 || j->depth > NGX_CMS_JSON_MAX_DEPTH) {
        return;
    }

    if (j->more[j->depth - 1] == ']') {
        ngx_cms_json_put1(j, ',');
        return;
    }

    if (j->more[j->depth - 1] == '[') {
        j->more[j->depth - 1] = ']';
    }
}


void
ngx_cms_json_open(ngx_cms_json_t *j, char bracket)
{
    ngx_cms_json_value(j);
    ngx_cms_json_put1(j, (unsigned char) bracket);

    /*
     * more[] per level: '{' or '}' for an object without or with
     * members, '[' or ']' likewise for an array.
     */

    if (j->depth < NGX_CMS_JSON_MAX_DEPTH) {
        j->more[j->depth] = (unsigned char) bracket;
    }

    j->depth++;
}


void
ngx_cms_json_close(ngx_cms_json_t *j, char bracket)
{
    ngx_cms_json_put1(j, (unsigned char) bracket);

    if (j->depth) {
        j->depth--;
    }
}


/* the comma before a member of an object, but the first */

static inline void
ngx_cms_json_member(ngx_cms_json_t *j)
{
    if (j->depth && j->depth <= NGX_CMS_JSON_MAX_DEPTH) {
        if (j->more[j->depth - 1] == '}') {
            ngx_cms_json_put1(j, ',');

        } else {
            j->more[j->depth - 1] = '}';
        }
    }
}


void
ngx_cms_json_key(ngx_cms_json_t *j, const char *name)
{
    ngx_cms_json_key_n(j, (const unsigned char *) name, strlen(name));
}


void
ngx_cms_json_key_n(ngx_cms_json_t *j, const unsigned char *name,
    size_t len)
{
    ngx_cms_json_member(j);
    ngx_cms_json_put1(j, '"');
    ngx_cms_json_put_escaped(j, name, len);
    ngx_cms_json_put(j, "\":", 2);
}


void
ngx_cms_json_key_raw(ngx_cms_json_t *j, const char *text,
    size_t len)
{
    ngx_cms_json_member(j);
    ngx_cms_json_put(j, text, len);
}


void
ngx_cms_json_string(ngx_cms_json_t *j, const unsigned char *s,
    size_t len)
{
    ngx_cms_json_value(j);
    ngx_cms_json_put1(j, '"');
    ngx_cms_json_put_escaped(j, s, len);
    ngx_cms_json_put1(j, '"');
}


void
ngx_cms_json_cstring(ngx_cms_json_t *j, const char *s)
{
    ngx_cms_json_string(j, (const unsigned char *) s, strlen(s));
}


void
ngx_cms_json_string_or_null(ngx_cms_json_t *j,
    const unsigned char *s, size_t len)
{
    if (len == 0) {
        ngx_cms_json_null(j);
        return;
    }

    ngx_cms_json_string(j, s, len);
}


/*
 * The digits of n at p, returning their end.  p must have room for 20
 * bytes (the most a uint64_t has) whatever n is: the digits are made from
 * the last, two a division ("00" to "99"; time_ms has thirteen), in a
 * buffer whose last 20 bytes are then copied as one block.
 */

unsigned char *
ngx_cms_json_uint_digits(unsigned char *p, uint64_t n)
{
    size_t          len;
    unsigned        d;
    unsigned char   buf[40], *q;

    static const char  pairs[] =
        "0001020304050607080910111213141516171819"
        "2021222324252627282930313233343536373839"
        "4041424344454647484950515253545556575859"
        "6061626364656667686970717273747576777879"
        "8081828384858687888990919293949596979899";

    if (n < 10) {
        *p = (unsigned char) ('0' + n);
        return p + 1;
    }

    q = buf + 20;

    while (n >= 100) {
        d = (unsigned) (n % 100) * 2;
        n /= 100;
        *--q = (unsigned char) pairs[d + 1];
        *--q = (unsigned char) pairs[d];
    }

    if (n >= 10) {
        d = (unsigned) n * 2;
        *--q = (unsigned char) pairs[d + 1];
        *--q = (unsigned char) pairs[d];

    } else {
        *--q = (unsigned char) ('0' + n);
    }

    len = buf + 20 - q;

    /* q + 20 is within buf: the bytes after the digits are not used */

    memcpy(p, q, 20);

    return p + len;
}


void
ngx_cms_json_uint(ngx_cms_json_t *j, uint64_t n)
{
    unsigned char  buf[20];

    ngx_cms_json_value(j);
    ngx_cms_json_put(j, buf, ngx_cms_json_uint_digits(buf, n) - buf);
}


void
ngx_cms_json_bool(ngx_cms_json_t *j, int b)
{
    ngx_cms_json_value(j);

    if (b) {
        ngx_cms_json_put(j, "true", 4);

    } else {
        ngx_cms_json_put(j, "false", 5);
    }
}


void
ngx_cms_json_null(ngx_cms_json_t *j)
{
    ngx_cms_json_value(j);
    ngx_cms_json_put(j, "null", 4);
}


void
ngx_cms_json_verbatim(ngx_cms_json_t *j, const unsigned char *s,
    size_t len)
{
    size_t  i;

    ngx_cms_json_value(j);

    if (!ngx_cms_json_room(j, len)) {
        j->len += len;
        return;
    }

    /*
     * Valid JSON has raw CR and LF only as whitespace between tokens;
     * as spaces they keep the record on one line and mean the same.
     */

    for (i = 0; i < len; i++) {
        j->pos[i] = (s[i] == '\n' || s[i] == '\r') ? ' ' : s[i];
    }

    j->pos += len;
}


void
ngx_cms_json_string_begin(ngx_cms_json_t *j)
{
    ngx_cms_json_value(j);
    ngx_cms_json_put1(j, '"');
}


void
ngx_cms_json_string_part(ngx_cms_json_t *j, const unsigned char *s,
    size_t len)
{
    ngx_cms_json_put_escaped(j, s, len);
}


void
ngx_cms_json_string_cpart(ngx_cms_json_t *j, const char *s)
{
    ngx_cms_json_put_escaped(j, (const unsigned char *) s, strlen(s));
}


void
ngx_cms_json_raw(ngx_cms_json_t *j, const void *s, size_t len)
{
    ngx_cms_json_put(j, s, len);
}


void
ngx_cms_json_string_end(ngx_cms_json_t *j)
{
    ngx_cms_json_put1(j, '"');
}


int
ngx_cms_json_valid(const unsigned char *s, size_t len)
{
    const unsigned char  *p, *end;

    end = s + len;

    p = ngx_cms_json_skip_ws(s, end);
    p = ngx_cms_json_skip_value(p, end, 0);

    if (p == NULL) {
        return 0;
    }

    return ngx_cms_json_skip_ws(p, end) == end;
}


static const unsigned char *
ngx_cms_json_skip_value(const unsigned char *p, const unsigned char *end,
    int depth)
{
    unsigned char  close;

    if (p == NULL || p == end) {
        return NULL;
    }

    switch (*p) {

    case '"':
        return ngx_cms_json_skip_string(p, end);

    case 't':
        return ngx_cms_json_skip_word(p, end, "true");

    case 'f':
        return ngx_cms_json_skip_word(p, end, "false");

    case 'n':
        return ngx_cms_json_skip_word(p, end, "null");

    case '{':
    case '[':
        break;

    default:
        return ngx_cms_json_skip_number(p, end);
    }

    if (depth >= NGX_CMS_JSON_VALID_DEPTH) {
        return NULL;
    }

    close = (*p == '{') ? '}' : ']';

    p = ngx_cms_json_skip_ws(p + 1, end);

    if (p < end && *p == close) {
        return p + 1;
    }

    for ( ;; ) {

        if (close == '}') {
            if (p == end || *p != '"') {
                return NULL;
            }

            p = ngx_cms_json_skip_string(p, end);
            p = ngx_cms_json_skip_ws(p, end);

            if (p == NULL || p == end || *p != ':') {
                return NULL;
            }

            p = ngx_cms_json_skip_ws(p + 1, end);
        }

        p = ngx_cms_json_skip_value(p, end, depth + 1);
        p = ngx_cms_json_skip_ws(p, end);

        if (p == NULL || p == end) {
            return NULL;
        }

        if (*p == close) {
            return p + 1;
        }

        if (*p != ',') {
            return NULL;
        }

        p = ngx_cms_json_skip_ws(p + 1, end);
    }
}


static const unsigned char *
ngx_cms_json_skip_ws(const unsigned char *p, const unsigned char *end)
{
    if (p == NULL) {
        return NULL;
    }

    while (p < end
           && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
    {
        p++;
    }

    return p;
}


static const unsigned char *
ngx_cms_json_skip_string(const unsigned char *p,
    const unsigned char *end)
{
    int     i;
    size_t  n;

    p++;    /* '"' */

    while (p < end) {

        if (*p == '"') {
            return p + 1;
        }

        if (*p < 0x20) {
            return NULL;
        }

        if (*p == '\\') {
            p++;

            if (p == end) {
                return NULL;
            }

            switch (*p) {

            case '"': case '\\': case '/': case 'b':
            case 'f': case 'n': case 'r': case 't':
                p++;
                continue;

            case 'u':
                p++;

                for (i = 0; i < 4; i++, p++) {
                    if (p == end
                        || !((*p >= '0' && *p <= '9')
                             || ((*p | 0x20) >= 'a' && (*p | 0x20) <= 'f')))
                    {
                        return NULL;
                    }
                }

                continue;

            default:
                return NULL;
            }
        }

        if (*p < 0x80) {
            p++;
            continue;
        }

        n = ngx_cms_json_utf8(p, end - p);
        if (n == 0) {
            return NULL;
        }

        p += n;
    }

    return NULL;
}


static const unsigned char *
ngx_cms_json_skip_number(const unsigned char *p,
    const unsigned char *end)
{
    const unsigned char  *digits;

    if (p < end && *p == '-') {
        p++;
    }

    if (p == end) {
        return NULL;
    }

    if (*p == '0') {
        p++;

    } else if (*p >= '1' && *p <= '9') {
        while (p < end && *p >= '0' && *p <= '9') {
            p++;
        }

    } else {
        return NULL;
    }

    if (p < end && *p == '.') {
        digits = ++p;

        while (p < end && *p >= '0' && *p <= '9') {
            p++;
        }

        if (p == digits) {
            return NULL;
        }
    }

    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;

        if (p < end && (*p == '+' || *p == '-')) {
            p++;
        }

        digits = p;

        while (p < end && *p >= '0' && *p <= '9') {
            p++;
        }

        if (p == digits) {
            return NULL;
        }
    }

    return p;
}


static const unsigned char *
ngx_cms_json_skip_word(const unsigned char *p, const unsigned char *end,
    const char *word)
{
    size_t  n;

    n = strlen(word);

    if ((size_t) (end - p) < n || memcmp(p, word, n) != 0) {
        return NULL;
    }

    return p + n;
}
