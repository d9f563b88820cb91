
/*
 * ngx_cms slots: a slot record as the Redis scripts keep and publish it
 * (ngx_cms_slots_redis.c writes it, the scripts store it as is): 17
 * fields separated by 0x1f.  Pure code: plain buffers, no nginx types,
 * so what Redis answers can be fuzzed alone.
 */


#ifndef _NGX_CMS_SLOT_RECORD_H_INCLUDED_
#define _NGX_CMS_SLOT_RECORD_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>

#include "ngx_cms_slot_model.h"


#define NGX_CMS_SLOT_RECORD_SEP     '\x1f'
#define NGX_CMS_SLOT_RECORD_FIELDS  17

#define NGX_CMS_SLOT_RECORD_OK         0
#define NGX_CMS_SLOT_RECORD_MALFORMED  -1   /* not 17 fields: logged */
#define NGX_CMS_SLOT_RECORD_IGNORED    -2   /* a field out of range */


typedef struct {
    const unsigned char  *f[NGX_CMS_SLOT_RECORD_FIELDS];
    size_t                l[NGX_CMS_SLOT_RECORD_FIELDS];
    ngx_cms_slot_pool_t   model;       /* fields 1 to 4: range, affixes */
    long                  index;       /* field 5, in the range */
    unsigned              state;       /* field 7, a ngx_cms_slot_state_e */
} ngx_cms_slot_record_t;


/*
 * Splits and checks a record: the pool id (field 0) is 1 to id_max
 * bytes, the range is valid and at most NGX_CMS_SLOT_RANGE_MAX wide, the
 * affixes fit, the index is in the range, the space id (field 6) is not
 * empty, the state is known.  The spans in r point into rec.
 */

int ngx_cms_slot_record_parse(const unsigned char *rec, size_t len,
    size_t id_max, ngx_cms_slot_record_t *r);

/*
 * The version before a record (the change script's HINCRBY, or "0" for
 * a record seeded without one): decimal digits only, 1 to 19 of them,
 * at most INT64_MAX.  NGX_CMS_SLOT_RECORD_MALFORMED for anything else:
 * a version that does not parse must not count as the newest one.
 */

int ngx_cms_slot_record_version(const unsigned char *p, size_t len,
    uint64_t *version);


#endif /* _NGX_CMS_SLOT_RECORD_H_INCLUDED_ */
