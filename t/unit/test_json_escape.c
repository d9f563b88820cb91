/*
 * The one JSON string escaper (ngx_cms_json_escape.c): valid UTF-8 (CMS
 * names are often Chinese or German) passes as it is; controls, quotes
 * and bytes of no well-formed sequence are escaped.
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <stdlib.h>
#include <cmocka.h>

#include "ngx_cms_json_escape.h"


static void
check(const char *in, size_t len, const char *want)
{
    unsigned char  out[256], *end;

    assert_true(len * 6 < sizeof(out));

    end = ngx_cms_json_escape_utf8(out, (const unsigned char *) in, len);

    assert_int_equal((size_t) (end - out), strlen(want));
    assert_memory_equal(out, want, strlen(want));
    assert_int_equal(ngx_cms_json_escaped_len((const unsigned char *) in,
                                              len),
                     strlen(want));
}


static void
test_utf8_intact(void **state)
{
    (void) state;

    check("TMS_Scheduled_Meeting_1", 23, "TMS_Scheduled_Meeting_1");
    check("Z\xc3\xbcrich Gro\xc3\x9f", 13, "Z\xc3\xbcrich Gro\xc3\x9f");
    check("\xe5\x8c\x97\xe4\xba\xac\xe4\xbc\x9a\xe8\xae\xae", 12,
          "\xe5\x8c\x97\xe4\xba\xac\xe4\xbc\x9a\xe8\xae\xae");
    check("\xf0\x9f\x93\x9e call", 9, "\xf0\x9f\x93\x9e call");
}


static void
test_escapes(void **state)
{
    (void) state;

    check("a\"b\\c", 5, "a\\\"b\\\\c");
    check("line\nnext\ttab", 13, "line\\nnext\\ttab");
    check("\x01\x1b[31m", 6, "\\u0001\\u001b[31m");
}


static void
test_broken_utf8(void **state)
{
    (void) state;

    /* a lone continuation byte, a cut sequence, an overlong '/', a
     * surrogate, Latin-1 */

    check("\x80", 1, "\\u0080");
    check("Z\xc3", 2, "Z\\u00c3");
    check("\xe5\x8c", 2, "\\u00e5\\u008c");
    check("\xc0\xaf", 2, "\\u00c0\\u00af");
    check("\xed\xa0\x80", 3, "\\u00ed\\u00a0\\u0080");
    check("Z\xfcrich", 6, "Z\\u00fcrich");
}


/*
 * The definition, byte by byte, against the escaper's words and tables:
 * random strings of every length up to 40 from an alphabet of plain
 * bytes, escapes and UTF-8 pieces, placed at every offset.
 */

static size_t
ref_escape(unsigned char *dst, const unsigned char *s, size_t len)
{
    size_t                n, i;
    unsigned char        *p;
    const unsigned char  *end;
    static const char     hex[] = "0123456789abcdef";

    p = dst;
    end = s + len;

    while (s < end) {
        if (*s >= 0x20 && *s < 0x7f && *s != '"' && *s != '\\') {
            *p++ = *s++;
            continue;
        }

        switch (*s) {
        case '"':  *p++ = '\\'; *p++ = '"'; s++; continue;
        case '\\': *p++ = '\\'; *p++ = '\\'; s++; continue;
        case '\b': *p++ = '\\'; *p++ = 'b'; s++; continue;
        case '\f': *p++ = '\\'; *p++ = 'f'; s++; continue;
        case '\n': *p++ = '\\'; *p++ = 'n'; s++; continue;
        case '\r': *p++ = '\\'; *p++ = 'r'; s++; continue;
        case '\t': *p++ = '\\'; *p++ = 't'; s++; continue;
        }

        n = (*s >= 0x80) ? ngx_cms_json_utf8(s, end - s) : 0;

        if (n == 0) {
            *p++ = '\\'; *p++ = 'u'; *p++ = '0'; *p++ = '0';
            *p++ = hex[*s >> 4];
            *p++ = hex[*s & 0xf];
            s++;
            continue;
        }

        for (i = 0; i < n; i++) {
            *p++ = *s++;
        }
    }

    return p - dst;
}


static void
test_against_definition(void **state)
{
    static const char  *pieces[] = {
        "a", "Z", "0", " ", "~", "\"", "\\", "\n", "\t", "\x01", "\x7f",
        "\xc3\xa9", "\xe4\xb8\xad", "\xf0\x9f\x98\x80", "\x80", "\xc3",
        "\xed\xa0\x80", "abcdefgh", "12345678901234567"
    };

    unsigned char   in[256], out[1024], want[1024], *end, *exact;
    size_t          len, n, k, off;
    uint32_t        seed;
    int             round;

    (void) state;

    seed = 77;

    for (round = 0; round < 200000; round++) {
        seed = seed * 1103515245u + 12345u;
        off = (seed >> 8) % 8;
        len = 0;

        /* mostly plain, like the records: one piece in four is another */

        for (k = 0; k < (seed >> 12) % 12; k++) {
            seed = seed * 1103515245u + 12345u;

            if ((seed >> 8) % 4) {
                in[off + len++] = (unsigned char) ('a' + (seed >> 12) % 26);
                continue;
            }

            n = strlen(pieces[(seed >> 12) % 19]);
            memcpy(in + off + len, pieces[(seed >> 12) % 19], n);
            len += n;
        }

        end = ngx_cms_json_escape_utf8(out, in + off, len);
        n = ref_escape(want, in + off, len);

        if ((size_t) (end - out) != n || memcmp(out, want, n) != 0) {
            fail_msg("round %d: %zu bytes escaped differently", round, len);
        }

        assert_int_equal(ngx_cms_json_escaped_len(in + off, len), n);

        /*
         * Into exactly the room it needs (ASan watches the end): the
         * escaper may store ahead of what it has counted, never past it.
         */

        exact = malloc(n ? n : 1);
        assert_non_null(exact);
        end = ngx_cms_json_escape_utf8(exact, in + off, len);
        assert_int_equal((size_t) (end - exact), n);
        assert_memory_equal(exact, want, n);
        free(exact);
    }
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_utf8_intact),
        cmocka_unit_test(test_escapes),
        cmocka_unit_test(test_broken_utf8),
        cmocka_unit_test(test_against_definition),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
