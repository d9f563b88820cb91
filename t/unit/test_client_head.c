/*
 * Unit tests for ngx_cms_client_head.c: the header block of a bridge's
 * answer to the internal HTTP client.
 */


#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "ngx_cms_client_head.h"


static const char *
parse(const char *text, ngx_cms_client_head_t *h)
{
    size_t  end;

    end = ngx_cms_client_head_end((const unsigned char *) text,
                                  strlen(text));
    assert_true(end > 0);

    return ngx_cms_client_head_parse((const unsigned char *) text, end, h);
}


static void
test_plain(void **state)
{
    ngx_cms_client_head_t  h;

    (void) state;

    assert_null(parse("HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\n"
                      "Content-Length: 42\r\nLocation: /api/v1/x\r\n\r\n",
                      &h));
    assert_int_equal(h.status, 200);
    assert_int_equal(h.content_length, 42);
    assert_int_equal(h.location_len, 9);
    assert_memory_equal(h.location, "/api/v1/x", 9);
    assert_int_equal(h.content_type_len, 8);

    assert_null(parse("HTTP/1.1 204 No Content\r\n\r\n", &h));
    assert_int_equal(h.content_length, 0);

    assert_null(parse("HTTP/1.0 200 OK\r\n\r\n", &h));
    assert_int_equal(h.content_length, -1);
}


/*
 * RFC 9112, 6.3: Content-Length values that differ make the framing
 * unrecoverable; the parser used to keep the last one.
 */

static void
test_two_lengths(void **state)
{
    ngx_cms_client_head_t  h;

    (void) state;

    assert_string_equal(parse("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"
                              "Content-Length: 50\r\n\r\n", &h),
                        "sent two different Content-Lengths");

    assert_string_equal(parse("HTTP/1.1 200 OK\r\ncontent-length: 50\r\n"
                              "X-A: b\r\nCONTENT-LENGTH:5\r\n\r\n", &h),
                        "sent two different Content-Lengths");

    /* 0 then something: the first is a value too, not "none" */
    assert_string_equal(parse("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n"
                              "Content-Length: 7\r\n\r\n", &h),
                        "sent two different Content-Lengths");

    /* the same value twice frames the body one way only */
    assert_null(parse("HTTP/1.1 200 OK\r\nContent-Length: 7\r\n"
                      "Content-Length:  7 \r\n\r\n", &h));
    assert_int_equal(h.content_length, 7);
}


static void
test_invalid(void **state)
{
    ngx_cms_client_head_t  h;

    (void) state;

    assert_string_equal(parse("HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n"
                              "\r\n", &h),
                        "sent an invalid Content-Length");
    assert_string_equal(parse("HTTP/1.1 200 OK\r\nContent-Length: "
                              "99999999999999999999\r\n\r\n", &h),
                        "sent an invalid Content-Length");
    assert_string_equal(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: "
                              "chunked\r\n\r\n", &h),
                        "answered an HTTP/1.0 request with "
                        "Transfer-Encoding");
    assert_string_equal(parse("HTTP/1.1 2000 OK\r\n\r\n", &h),
                        "sent an invalid status line");
    assert_string_equal(parse("HTTP/1.1 200 OK\r\nA\nB: c\r\n\r\n", &h),
                        "sent an invalid header line");
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain),
        cmocka_unit_test(test_two_lengths),
        cmocka_unit_test(test_invalid),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
