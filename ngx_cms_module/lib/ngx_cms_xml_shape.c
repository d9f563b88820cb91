
/*
 * ngx_cms: element shapes of an XML text (see ngx_cms_xml_shape.h).
 */


#include <string.h>

#include "ngx_cms_xml_shape.h"


static const unsigned char *
ngx_cms_xml_find(const unsigned char *p, const unsigned char *last,
    const char *what)
{
    size_t  n;

    n = strlen(what);

    while ((size_t) (last - p) >= n) {
        if (memcmp(p, what, n) == 0) {
            return p;
        }

        p++;
    }

    return NULL;
}


int
ngx_cms_xml_scan_shapes(const unsigned char *p, size_t len,
    unsigned char *shapes, size_t max, size_t *n, size_t *prolog,
    size_t *epilog)
{
    size_t                depth;
    unsigned char         quote;
    const unsigned char  *start, *last, *q, *gt;

    start = p;
    last = p + len;

    *n = 0;
    *prolog = (size_t) -1;
    *epilog = len;
    depth = 0;

    while (p < last) {

        q = memchr(p, '<', last - p);
        if (q == NULL) {
            break;
        }

        p = q;

        if (last - p >= 4 && memcmp(p, "<!--", 4) == 0) {
            q = ngx_cms_xml_find(p + 4, last, "-->");
            if (q == NULL) {
                return -1;
            }

            p = q + 3;
            continue;
        }

        if (last - p >= 9 && memcmp(p, "<![CDATA[", 9) == 0) {
            q = ngx_cms_xml_find(p + 9, last, "]]>");
            if (q == NULL) {
                return -1;
            }

            p = q + 3;
            continue;
        }

        if (last - p >= 2 && (p[1] == '?' || p[1] == '!' || p[1] == '/')) {
            /* PI, declaration or end tag: no quotes can hide a '>' that
             * matters to us except in a PI, which ends with "?>" */

            if (p[1] == '?') {
                q = ngx_cms_xml_find(p + 2, last, "?>");
                if (q == NULL) {
                    return -1;
                }

                p = q + 2;

            } else {
                q = memchr(p, '>', last - p);
                if (q == NULL) {
                    return -1;
                }

                /* the root's end tag: the epilog starts after it */

                if (p[1] == '/' && depth && --depth == 0) {
                    *epilog = q + 1 - start;
                }

                p = q + 1;
            }

            continue;
        }

        /* a start tag: find its '>' outside quoted attribute values */

        if (*prolog == (size_t) -1) {
            *prolog = p - start;
        }

        quote = 0;
        gt = NULL;

        for (q = p + 1; q < last; q++) {
            if (quote) {
                if (*q == quote) {
                    quote = 0;
                }

                continue;
            }

            if (*q == '"' || *q == '\'') {
                quote = *q;
                continue;
            }

            if (*q == '>') {
                gt = q;
                break;
            }
        }

        if (gt == NULL) {
            return -1;
        }

        if (*n < max) {
            shapes[*n] = 0;

            if (gt[-1] == '/') {
                shapes[*n] |= NGX_CMS_XML_SELF_CLOSED;

                if (gt - 2 > p && gt[-2] == ' ') {
                    shapes[*n] |= NGX_CMS_XML_SPACE_SLASH;
                }
            }
        }

        (*n)++;
        p = gt + 1;

        if (gt[-1] != '/') {
            depth++;

        } else if (depth == 0) {
            /* a self-closed root */
            *epilog = p - start;
        }
    }

    if (*prolog == (size_t) -1) {
        return -1;
    }

    return 0;
}
