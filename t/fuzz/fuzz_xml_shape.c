/*
 * libFuzzer target for ngx_cms_xml_shape.c, the scanner that records
 * each element's shape (<a/>, <a />, <a></a>) in a bridge's answer
 * before it is re-serialized.
 *
 * Input: one byte for the size of the shapes array, then the text.
 * Besides memory errors, it checks what the serializer relies on: the
 * prolog and epilog lie inside the text, in that order; the scan does
 * not depend on the array's size (a smaller one sees a prefix of the
 * same shapes); and the bytes at the prolog's end start a tag.
 */


#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ngx_cms_xml_shape.h"


#define check(cond)  if (!(cond)) { abort(); }


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int             rc, rc2;
    size_t          max, len, n, n2, prolog, prolog2, epilog, epilog2, i;
    uint8_t        *text, *shapes, *shapes2;

    if (size == 0) {
        return 0;
    }

    max = data[0] % 64;
    len = size - 1;

    /* exactly the text's bytes, so ASan sees any read beyond it */

    text = malloc(len ? len : 1);
    shapes = malloc(max ? max : 1);
    shapes2 = malloc(len + 1);
    check(text && shapes && shapes2);
    memcpy(text, data + 1, len);

    rc = ngx_cms_xml_scan_shapes(text, len, shapes, max, &n, &prolog,
                                 &epilog);
    check(rc == 0 || rc == -1);

    if (rc == 0) {
        check(prolog < len);
        check(text[prolog] == '<');
        check(epilog <= len);
        check(epilog > prolog);
        check(n >= 1);

        for (i = 0; i < n && i < max; i++) {
            check((shapes[i] & ~(NGX_CMS_XML_SELF_CLOSED
                                 | NGX_CMS_XML_SPACE_SLASH)) == 0);
            check(!(shapes[i] & NGX_CMS_XML_SPACE_SLASH)
                  || (shapes[i] & NGX_CMS_XML_SELF_CLOSED));
        }
    }

    /* a large array: the same answer, the same first shapes */

    rc2 = ngx_cms_xml_scan_shapes(text, len, shapes2, len + 1, &n2,
                                  &prolog2, &epilog2);
    check(rc2 == rc);

    if (rc == 0) {
        check(n2 == n && prolog2 == prolog && epilog2 == epilog);
        check(n <= len);

        for (i = 0; i < n && i < max; i++) {
            check(shapes[i] == shapes2[i]);
        }
    }

    free(text);
    free(shapes);
    free(shapes2);

    return 0;
}
