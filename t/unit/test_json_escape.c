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


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_utf8_intact),
        cmocka_unit_test(test_escapes),
        cmocka_unit_test(test_broken_utf8),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
