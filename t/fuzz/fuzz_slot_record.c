/*
 * libFuzzer target for the slot records Redis hands back: the decide
 * script's answer and the messages published on the slot channel, both
 * "<version> 0x1f <record>" or a record alone (plugins/slots/
 * ngx_cms_slot_record.c, used by ngx_cms_slots_redis.c).
 *
 * Input: a message as the channel delivers it.  Besides memory errors,
 * it checks: an accepted record has exactly 17 fields, none holding the
 * separator, all inside the input; its range, index and state are
 * within bounds; and the placeholder name of its slot, written by the
 * pool model, reads back as the same slot (ngx_cms_slot_name() and
 * ngx_cms_slot_index(), which the slot table relies on); and a version
 * (before the separator) is accepted only as 1 to 19 decimal digits
 * whose value it gives back (an unparsable one once counted as the
 * largest version: the record would have stayed the newest forever).
 */


#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ngx_cms_slot_record.h"


#define check(cond)  if (!(cond)) { abort(); }


static void
check_version(const uint8_t *p, size_t len)
{
    int       rc;
    size_t    i;
    uint64_t  v, want;

    v = 12345;
    rc = ngx_cms_slot_record_version(p, len, &v);

    check(rc == NGX_CMS_SLOT_RECORD_OK
          || rc == NGX_CMS_SLOT_RECORD_MALFORMED);

    if (rc != NGX_CMS_SLOT_RECORD_OK) {
        check(v == 12345);
        return;
    }

    check(len >= 1 && len <= 19);

    want = 0;

    for (i = 0; i < len; i++) {
        check(p[i] >= '0' && p[i] <= '9');
        want = want * 10 + (p[i] - '0');
    }

    check(v == want && v <= (uint64_t) INT64_MAX);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                     rc;
    size_t                  i, sum, n, id_max;
    uint8_t                *msg, *sep;
    const uint8_t          *rec;
    unsigned char           name[2 * NGX_CMS_SLOT_AFFIX_MAX + 16];
    ngx_cms_slot_record_t   r;

    if (size == 0) {
        return 0;
    }

    id_max = 1 + data[0] % 80;

    msg = malloc(size - 1 ? size - 1 : 1);
    check(msg != NULL);
    memcpy(msg, data + 1, size - 1);

    /* the version before the first separator, as the message handler */

    sep = memchr(msg, NGX_CMS_SLOT_RECORD_SEP, size - 1);
    rec = sep ? sep + 1 : msg;
    n = msg + size - 1 - rec;

    if (sep) {
        check_version(msg, sep - msg);
    }

    rc = ngx_cms_slot_record_parse(rec, n, id_max, &r);

    check(rc == NGX_CMS_SLOT_RECORD_OK
          || rc == NGX_CMS_SLOT_RECORD_MALFORMED
          || rc == NGX_CMS_SLOT_RECORD_IGNORED);

    if (rc != NGX_CMS_SLOT_RECORD_MALFORMED) {
        sum = 0;

        for (i = 0; i < NGX_CMS_SLOT_RECORD_FIELDS; i++) {
            check(r.f[i] >= rec && r.f[i] + r.l[i] <= rec + n);
            check(memchr(r.f[i], NGX_CMS_SLOT_RECORD_SEP, r.l[i]) == NULL);
            sum += r.l[i];
        }

        check(sum + NGX_CMS_SLOT_RECORD_FIELDS - 1 == n);

    } else {
        n = 0;

        for (i = 0; rec && i < (size_t) (msg + size - 1 - rec); i++) {
            n += (rec[i] == NGX_CMS_SLOT_RECORD_SEP);
        }

        check(n != NGX_CMS_SLOT_RECORD_FIELDS - 1);
    }

    if (rc == NGX_CMS_SLOT_RECORD_OK) {
        check(r.l[0] >= 1 && r.l[0] <= id_max);
        check(r.l[6] >= 1);
        check(r.model.start >= 0 && r.model.start <= r.model.end);
        check(r.model.end - r.model.start < NGX_CMS_SLOT_RANGE_MAX);
        check(r.index >= r.model.start && r.index <= r.model.end);
        check(r.state <= NGX_CMS_SLOT_STUCK);
        check(r.model.prefix_len <= NGX_CMS_SLOT_AFFIX_MAX);
        check(r.model.suffix_len <= NGX_CMS_SLOT_AFFIX_MAX);

        n = ngx_cms_slot_name(&r.model, r.index, name, sizeof(name));
        check(n > 0);
        check(ngx_cms_slot_index(&r.model, name, n) == r.index);
    }

    free(msg);

    return 0;
}
