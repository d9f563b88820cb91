
/*
 * ngx_cms: whether two short byte strings are equal, without a call.
 *
 * The names, operations, roles and ids the core and the plugins compare
 * on every call are a few to a few dozen bytes; for them the call into
 * the C library's memcmp() costs more than the compare.  Up to sixteen
 * bytes are compared as two overlapping words (eight or four bytes),
 * longer strings by memcmp().  Pure, header only: the pure parsers and
 * the plugins include it alike (t/unit/test_bytes.c checks it against
 * memcmp() for every length and every differing byte).
 */


#ifndef _NGX_CMS_BYTES_H_INCLUDED_
#define _NGX_CMS_BYTES_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>
#include <string.h>


static inline int
ngx_cms_bytes_eq(const void *a, const void *b, size_t len)
{
    uint32_t              a4, b4;
    uint64_t              a8, b8;
    const unsigned char  *p, *q;

    p = a;
    q = b;

    if (len > 16) {
        return memcmp(p, q, len) == 0;
    }

    if (len >= 8) {
        memcpy(&a8, p, 8);
        memcpy(&b8, q, 8);

        if (a8 != b8) {
            return 0;
        }

        memcpy(&a8, p + len - 8, 8);
        memcpy(&b8, q + len - 8, 8);

        return a8 == b8;
    }

    if (len >= 4) {
        memcpy(&a4, p, 4);
        memcpy(&b4, q, 4);

        if (a4 != b4) {
            return 0;
        }

        memcpy(&a4, p + len - 4, 4);
        memcpy(&b4, q + len - 4, 4);

        return a4 == b4;
    }

    while (len--) {
        if (*p++ != *q++) {
            return 0;
        }
    }

    return 1;
}


#endif /* _NGX_CMS_BYTES_H_INCLUDED_ */
