
/*
 * ngx_cms: JSON string escaping, the one escaper of the project (status,
 * admin, discovery, events, Redis status, audit records).
 *
 * Every string goes out as valid UTF-8 JSON whatever the bytes were:
 * well-formed UTF-8 (Chinese, German, ... names) is copied as it is; a
 * byte that is not part of a well-formed sequence is written as \u00XX
 * (its Latin-1 reading), so the text stays valid JSON and the byte value
 * is still visible; control characters are escaped, so one record is
 * always one line.
 *
 * Speed: most bytes are plain ASCII (ids, paths, names).  A string under
 * sixteen bytes is checked and copied as two overlapping words (one SSE2
 * vector), before the rest is set up; longer ones are scanned sixteen
 * (or eight) bytes at a time while they are plain, and copied in those
 * runs; only bytes from 0x80 up go through the UTF-8 check.
 *
 * Pure code: plain buffers, no nginx types.
 */


#include <stdint.h>
#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "ngx_cms_json_escape.h"


#define NGX_CMS_JSON_ONES  0x0101010101010101ULL
#define NGX_CMS_JSON_HIGH  0x8080808080808080ULL


static const char  ngx_cms_json_hex[] = "0123456789abcdef";


static unsigned char *ngx_cms_json_escape_run(unsigned char *dst,
    const unsigned char *s, size_t len);


/*
 * The bytes JSON takes as they are, printable ASCII but '"' and '\\', as
 * a table: one load a byte on short strings and at the ends of runs.
 */

static const unsigned char  ngx_cms_json_plain_tab[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,   /* 00 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,   /* 10 */
    1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,   /* 20 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,   /* 30 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,   /* 40 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1,   /* 50 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,   /* 60 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0,   /* 70 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,   /* 80 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,   /* 90 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,   /* a0 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,   /* b0 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,   /* c0 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,   /* d0 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,   /* e0 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0    /* f0 */
};


/*
 * The same for eight bytes at once, with the usual word-at-a-time tests:
 * each term sets the high bit of some byte exactly when one of the eight
 * is below 0x20, above 0x7e (0x7f and every byte of UTF-8), a '"' or a
 * '\'.  A carry or borrow between bytes only ever starts at a byte that
 * matched, so the answer is exact.  Byte order does not matter.
 */

static inline int
ngx_cms_json_plain8(uint64_t w)
{
    uint64_t  q, b;

    q = w ^ (NGX_CMS_JSON_ONES * '"');
    b = w ^ (NGX_CMS_JSON_ONES * '\\');

    return ((((w - NGX_CMS_JSON_ONES * 0x20) & ~w)
             | ((w + NGX_CMS_JSON_ONES) | w)
             | ((q - NGX_CMS_JSON_ONES) & ~q)
             | ((b - NGX_CMS_JSON_ONES) & ~b))
            & NGX_CMS_JSON_HIGH)
           == 0;
}


#if defined(__SSE2__)

static inline unsigned ngx_cms_json_special_v(__m128i v);


/*
 * Sixteen bytes at once where SSE2 is (every x86-64): bit i of the result
 * is set when byte i is not plain.  The signed comparison with 0x20 takes
 * the controls and every byte from 0x80 up (negative) at once.
 */

static inline unsigned
ngx_cms_json_special16(const unsigned char *s)
{
    return ngx_cms_json_special_v(_mm_loadu_si128((const __m128i *) s));
}


static inline unsigned
ngx_cms_json_special_v(__m128i v)
{
    __m128i  m;

    m = _mm_or_si128(
            _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')),
                         _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))),
            _mm_or_si128(_mm_cmplt_epi8(v, _mm_set1_epi8(0x20)),
                         _mm_cmpeq_epi8(v, _mm_set1_epi8(0x7f))));

    return (unsigned) _mm_movemask_epi8(m);
}

#endif


/* the length of a well-formed UTF-8 sequence at s (s[0] >= 0x80), or 0 */

size_t
ngx_cms_json_utf8(const unsigned char *s, size_t len)
{
    size_t    n, i;
    uint32_t  c, min;

    c = s[0];

    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
        c &= 0x1f;
        min = 0x80;

    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        c &= 0x0f;
        min = 0x800;

    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        c &= 0x07;
        min = 0x10000;

    } else {
        return 0;
    }

    if (len < n) {
        return 0;
    }

    for (i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80) {
            return 0;
        }

        c = (c << 6) | (s[i] & 0x3f);
    }

    /* overlong forms, UTF-16 surrogates and beyond U+10FFFF */

    if (c < min || (c >= 0xd800 && c <= 0xdfff) || c > 0x10ffff) {
        return 0;
    }

    return n;
}


size_t
ngx_cms_json_escaped_len(const unsigned char *s, size_t len)
{
    size_t                n, out;
    uint64_t              w;
    const unsigned char  *end;
#if defined(__SSE2__)
    unsigned              m;
#endif

    out = len;
    end = s + len;

    /* out starts at one byte a byte; escapes and bad bytes add to it */

    while (s < end) {

#if defined(__SSE2__)
        while (end - s >= 16) {
            m = ngx_cms_json_special16(s);

            if (m) {
                s += __builtin_ctz(m);
                break;
            }

            s += 16;
        }
#endif

        while (end - s >= 8) {
            memcpy(&w, s, 8);

            if (!ngx_cms_json_plain8(w)) {
                break;
            }

            s += 8;
        }

        while (s < end && ngx_cms_json_plain_tab[*s]) {
            s++;
        }

        if (s == end) {
            break;
        }

        switch (*s) {

        case '"':
        case '\\':
        case '\b':
        case '\f':
        case '\n':
        case '\r':
        case '\t':
            out += 1;
            s++;
            continue;
        }

        n = (*s >= 0x80) ? ngx_cms_json_utf8(s, end - s) : 0;

        if (n == 0) {
            out += 5;
            s++;
            continue;
        }

        s += n;
    }

    return out;
}


/*
 * Most strings of a record are short and plain (a user, a role, a
 * parameter's name): checked and copied here as two overlapping words,
 * with nothing else set up; a longer one, or one with a byte that is not
 * plain, goes the general way from its start (bytes already copied are
 * written again, the same).
 */

unsigned char *
ngx_cms_json_escape_utf8(unsigned char *dst, const unsigned char *s,
    size_t len)
{
    size_t    i;
#if defined(__SSE2__)
    uint32_t  a4, b4;
    __m128i   v;
#endif

    if (len >= 16) {
        return ngx_cms_json_escape_run(dst, s, len);
    }

#if defined(__SSE2__)

    if (len >= 8) {
        /* the first and the last eight, overlapping, as one vector */

        v = _mm_unpacklo_epi64(_mm_loadl_epi64((const __m128i *) s),
                               _mm_loadl_epi64((const __m128i *)
                                               (s + len - 8)));

        if (ngx_cms_json_special_v(v)) {
            return ngx_cms_json_escape_run(dst, s, len);
        }

        _mm_storel_epi64((__m128i *) (dst + len - 8),
                         _mm_unpackhi_epi64(v, v));
        _mm_storel_epi64((__m128i *) dst, v);

        return dst + len;
    }

    if (len >= 4) {
        /* four and four, overlapping: the low eight bytes of a vector */

        memcpy(&a4, s, 4);
        memcpy(&b4, s + len - 4, 4);

        v = _mm_unpacklo_epi32(_mm_cvtsi32_si128((int) a4),
                               _mm_cvtsi32_si128((int) b4));

        if (ngx_cms_json_special_v(v) & 0xff) {
            return ngx_cms_json_escape_run(dst, s, len);
        }

        memcpy(dst + len - 4, &b4, 4);
        memcpy(dst, &a4, 4);

        return dst + len;
    }

#endif

    for (i = 0; i < len; i++) {
        if (!ngx_cms_json_plain_tab[s[i]]) {
            return ngx_cms_json_escape_run(dst, s, len);
        }

        dst[i] = s[i];
    }

    return dst + len;
}


static unsigned char *
ngx_cms_json_escape_run(unsigned char *dst, const unsigned char *s,
    size_t len)
{
    size_t                n;
    uint64_t              w;
    unsigned char         c;
    const unsigned char  *end, *run;
#if defined(__SSE2__)
    unsigned              m;
    __m128i               v;
#endif

    end = s + len;

    while (s < end) {

        /* plain runs, eight bytes at a time; from run on, dst keeps pace */

        run = s;

#if defined(__SSE2__)

        /*
         * Sixteen at a time first.  The sixteen are stored before they
         * are known to be plain: dst has room for at least as many bytes
         * as are left of s (no byte escapes to less than itself), and
         * only the plain ones are counted.
         */

        while (end - s >= 16) {
            m = ngx_cms_json_special16(s);

            v = _mm_loadu_si128((const __m128i *) s);
            _mm_storeu_si128((__m128i *) dst, v);

            if (m) {
                n = __builtin_ctz(m);
                dst += n;
                s += n;
                break;
            }

            dst += 16;
            s += 16;
        }

        /* the last fewer than sixteen of a long run, as in the words below */

        if (s < end && end - s < 16 && end - run >= 16
            && ngx_cms_json_special16(end - 16) == 0)
        {
            v = _mm_loadu_si128((const __m128i *) (end - 16));
            _mm_storeu_si128((__m128i *) (dst - (s - (end - 16))), v);
            dst += end - s;
            break;
        }

#endif

        while (end - s >= 8) {
            memcpy(&w, s, 8);

            if (!ngx_cms_json_plain8(w)) {
                break;
            }

            memcpy(dst, &w, 8);
            dst += 8;
            s += 8;
        }

        /*
         * Fewer than eight bytes to the end of a run that began eight
         * or more before it: the last eight as one word, the bytes
         * already copied copied again, the same.
         */

        if (s < end && end - s < 8 && end - run >= 8) {
            memcpy(&w, end - 8, 8);

            if (ngx_cms_json_plain8(w)) {
                memcpy(dst - (s - (end - 8)), &w, 8);
                dst += end - s;
                break;
            }
        }

        /* then byte by byte, up to the byte that is not plain */

        while (s < end && ngx_cms_json_plain_tab[*s]) {
            *dst++ = *s++;
        }

        if (s == end) {
            break;
        }

        c = *s;

        switch (c) {

        case '"':
        case '\\':
            *dst++ = '\\';
            *dst++ = c;
            s++;
            continue;

        case '\b':
            *dst++ = '\\';
            *dst++ = 'b';
            s++;
            continue;

        case '\f':
            *dst++ = '\\';
            *dst++ = 'f';
            s++;
            continue;

        case '\n':
            *dst++ = '\\';
            *dst++ = 'n';
            s++;
            continue;

        case '\r':
            *dst++ = '\\';
            *dst++ = 'r';
            s++;
            continue;

        case '\t':
            *dst++ = '\\';
            *dst++ = 't';
            s++;
            continue;
        }

        n = (c >= 0x80) ? ngx_cms_json_utf8(s, end - s) : 0;

        if (n == 0) {
            *dst++ = '\\';
            *dst++ = 'u';
            *dst++ = '0';
            *dst++ = '0';
            *dst++ = (unsigned char) ngx_cms_json_hex[c >> 4];
            *dst++ = (unsigned char) ngx_cms_json_hex[c & 0xf];
            s++;
            continue;
        }

        memcpy(dst, s, n);
        dst += n;
        s += n;
    }

    return dst;
}
