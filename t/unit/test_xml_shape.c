/*
 * Unit tests for ngx_cms_xml_shape.c: element shapes in document order.
 */


#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "ngx_cms_xml_shape.h"


#define SCAN(text, shapes, n, prolog, epilog)                                 \
    ngx_cms_xml_scan_shapes((const unsigned char *) (text), strlen(text),    \
                            shapes, sizeof(shapes), &n, &prolog, &epilog)


/* the real /callBridges/<id> answer of seed 000 */

static void
test_call_bridge(void **state)
{
    size_t         n, prolog, epilog;
    unsigned char  shapes[8];
    const char    *xml = "<?xml version=\"1.0\"?>\n"
                         "<callBridge id=\"0e3758db\"><name>CallBridge-Core1"
                         "</name><address>https://14.80.82.30</address>"
                         "<sipDomain></sipDomain></callBridge>\n";

    (void) state;

    assert_int_equal(SCAN(xml, shapes, n, prolog, epilog), 0);
    assert_int_equal(n, 4);
    assert_int_equal(prolog, strlen("<?xml version=\"1.0\"?>\n"));
    assert_int_equal(epilog, strlen(xml) - 1);   /* the final newline */
    assert_int_equal(shapes[0], 0);
    assert_int_equal(shapes[3], 0);              /* <sipDomain></sipDomain> */
}


/* self-closed items, with and without the space CMS puts before "/>" */

static void
test_self_closed(void **state)
{
    size_t         n, prolog, epilog;
    unsigned char  shapes[8];
    const char    *xml = "<?xml version=\"1.0\"?>\n<callProfiles total=\"2\">"
                         "<callProfile id=\"a/b>c\"/>"
                         "<callProfile id='x' />"
                         "</callProfiles>";

    (void) state;

    assert_int_equal(SCAN(xml, shapes, n, prolog, epilog), 0);
    assert_int_equal(n, 3);
    assert_int_equal(shapes[0], 0);
    assert_int_equal(shapes[1], NGX_CMS_XML_SELF_CLOSED);
    assert_int_equal(shapes[2],
                     NGX_CMS_XML_SELF_CLOSED | NGX_CMS_XML_SPACE_SLASH);
}


/* comments, CDATA and PIs hide nothing and count for nothing */

static void
test_skips(void **state)
{
    size_t         n, prolog, epilog;
    unsigned char  shapes[8];
    const char    *xml = "<!-- <x/> --><a><![CDATA[<b/>]]><?pi <c/>?>"
                         "<d/></a>";

    (void) state;

    assert_int_equal(SCAN(xml, shapes, n, prolog, epilog), 0);
    assert_int_equal(n, 2);
    assert_int_equal(prolog, strlen("<!-- <x/> -->"));
    assert_int_equal(shapes[0], 0);
    assert_int_equal(shapes[1], NGX_CMS_XML_SELF_CLOSED);
}


static void
test_unscannable(void **state)
{
    size_t         n, prolog, epilog;
    unsigned char  shapes[8];

    (void) state;

    assert_int_equal(SCAN("<a href=\"x>", shapes, n, prolog, epilog), -1);
    assert_int_equal(SCAN("<!-- never closed", shapes, n, prolog, epilog), -1);
    assert_int_equal(SCAN("no markup at all", shapes, n, prolog, epilog), -1);
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_call_bridge),
        cmocka_unit_test(test_self_closed),
        cmocka_unit_test(test_skips),
        cmocka_unit_test(test_unscannable),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
