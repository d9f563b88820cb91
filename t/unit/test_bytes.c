/*
 * ngx_cms_bytes_eq() against memcmp(): every length from 0 to 40, equal
 * strings, and a difference in each byte (in the low bit and in the high
 * one), at every alignment of both strings.
 */


#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "ngx_cms_bytes.h"


static void
test_against_memcmp(void **state)
{
    size_t          len, i, oa, ob;
    unsigned char   a[64], b[64], bit;
    int             bits[] = { 0x01, 0x80 };

    (void) state;

    for (oa = 0; oa < 8; oa++) {
        for (ob = 0; ob < 8; ob++) {
            for (len = 0; len <= 40; len++) {

                for (i = 0; i < len; i++) {
                    a[oa + i] = (unsigned char) ('a' + (i * 7) % 26);
                    b[ob + i] = a[oa + i];
                }

                assert_true(ngx_cms_bytes_eq(a + oa, b + ob, len));

                for (i = 0; i < len; i++) {
                    for (bit = 0; bit < 2; bit++) {
                        b[ob + i] ^= bits[bit];

                        assert_int_equal(ngx_cms_bytes_eq(a + oa, b + ob, len),
                                         memcmp(a + oa, b + ob, len) == 0);
                        assert_false(ngx_cms_bytes_eq(a + oa, b + ob, len));

                        b[ob + i] ^= bits[bit];
                    }
                }
            }
        }
    }
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_against_memcmp),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
