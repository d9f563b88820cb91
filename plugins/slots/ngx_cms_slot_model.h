
/*
 * ngx_cms: the scheduled-meeting slot model, pure.
 *
 * TMS books meetings into a pool of spaces created by a bulk parameter
 * set: coSpaceNameMapping "TMS_Scheduled_Meeting_$index$" over
 * startIndex..endIndex gives the placeholder names.  A PUT that gives a
 * slot space a meeting name and nonMemberAccess=true checks it out, the
 * same PUT again extends it, the PUT back to the placeholder name with
 * nonMemberAccess=false checks it in (seed 000).  This file knows the
 * names and the life cycle; the plugin around it knows nginx, shared
 * memory and Redis (whose Lua script mirrors ngx_cms_slot_decide()).
 *
 * Plain buffers, no nginx types, no allocation, no global state.
 */


#ifndef _NGX_CMS_SLOT_MODEL_H_INCLUDED_
#define _NGX_CMS_SLOT_MODEL_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>


#define NGX_CMS_SLOT_AFFIX_MAX   128

/* the widest index range one pool may span (the simulator's bulk limit) */
#define NGX_CMS_SLOT_RANGE_MAX   1000


/* the placeholder names of a pool: <prefix><index><suffix> */

typedef struct {
    unsigned char   prefix[NGX_CMS_SLOT_AFFIX_MAX];
    size_t          prefix_len;
    unsigned char   suffix[NGX_CMS_SLOT_AFFIX_MAX];
    size_t          suffix_len;
    long            start;
    long            end;           /* inclusive */
} ngx_cms_slot_pool_t;


/*
 * Parses a coSpaceNameMapping ([component]["$index$"][component], with
 * "\$" and "\\" escapes; any other byte, a lone '$' or '\' included, is
 * itself, as CMS expands it).  Returns 0, or -1 when the mapping has no
 * $index$ (every space would have the same name: not a slot pool), has
 * it twice, an affix is too long, the range is empty or negative, or
 * wider than NGX_CMS_SLOT_RANGE_MAX.
 */
int ngx_cms_slot_pool_parse(const unsigned char *mapping, size_t len,
    long start, long end, ngx_cms_slot_pool_t *pool);

/*
 * Parses a decimal index as CMS bulk parameters carry it ("1", "05");
 * returns -1 unless it is 1..9 digits.
 */
long ngx_cms_slot_parse_index(const unsigned char *s, size_t len);

/* the slot index a placeholder name stands for, or -1 */
long ngx_cms_slot_index(const ngx_cms_slot_pool_t *pool,
    const unsigned char *name, size_t len);

/* writes the placeholder name of index into buf; returns its length or
 * 0 when it does not fit */
size_t ngx_cms_slot_name(const ngx_cms_slot_pool_t *pool, long index,
    unsigned char *buf, size_t size);

/* two pools name the same spaces (same affixes and range) */
int ngx_cms_slot_pool_same(const ngx_cms_slot_pool_t *a,
    const ngx_cms_slot_pool_t *b);


/* what the proxy knows of one slot */

typedef enum {
    NGX_CMS_SLOT_FREE = 0,
    NGX_CMS_SLOT_IN_USE,
    NGX_CMS_SLOT_STUCK           /* holds a meeting, but its check-in
                                    failed or no call came */
} ngx_cms_slot_state_e;


/* what a PUT to a slot space means */

typedef enum {
    NGX_CMS_SLOT_ACT_NONE = 0,   /* not a booking change (e.g. a uri) */
    NGX_CMS_SLOT_ACT_CHECKOUT,   /* a meeting takes a free slot */
    NGX_CMS_SLOT_ACT_EXTEND,     /* the same meeting again */
    NGX_CMS_SLOT_ACT_CHECKIN,    /* back to the placeholder */
    NGX_CMS_SLOT_ACT_CONFLICT    /* another meeting holds it: refuse */
} ngx_cms_slot_action_e;


/*
 * The parameters of the PUT that matter; a NULL pointer means the
 * parameter was absent.
 */

typedef struct {
    const unsigned char  *name;
    size_t                name_len;
    const unsigned char  *non_member_access;
    size_t                non_member_access_len;
    const unsigned char  *secret;
    size_t                secret_len;
} ngx_cms_slot_put_t;


/* what a PUT looks like, before any slot state is consulted */

typedef enum {
    NGX_CMS_SLOT_PUT_OTHER = 0,  /* changes nothing the model follows */
    NGX_CMS_SLOT_PUT_OPEN,       /* a meeting name, nonMemberAccess=true */
    NGX_CMS_SLOT_PUT_CLOSE       /* this slot's placeholder name,
                                    nonMemberAccess=false */
} ngx_cms_slot_shape_e;


/* the slot as the decision sees it */

typedef struct {
    ngx_cms_slot_state_e  state;
    uint64_t              key;        /* the holding meeting, if any */
    uint64_t              name_key;   /* its name alone */
} ngx_cms_slot_view_t;


/*
 * The meeting's identity: a 64-bit FNV-1a hash of name and secret, so
 * the secret is never stored in clear and two meetings with the same
 * title but different secrets are told apart.  The name key is the hash
 * of the name alone: a repeated PUT without a secret still extends.
 * Neither is ever 0 (0 means "no meeting").
 */
uint64_t ngx_cms_slot_meeting_key(const unsigned char *name, size_t name_len,
    const unsigned char *secret, size_t secret_len);
uint64_t ngx_cms_slot_name_key(const unsigned char *name, size_t name_len);

/* the shape of a PUT to the space of slot `index` of `pool` */
ngx_cms_slot_shape_e ngx_cms_slot_shape(const ngx_cms_slot_pool_t *pool,
    long index, const ngx_cms_slot_put_t *put);

/*
 * Decides a shape against the slot's state:
 *
 *   OPEN  on a free slot                         CHECKOUT
 *   OPEN  by the holder (same key; or no secret
 *         given and the same name)               EXTEND
 *   OPEN  by anyone else                         CONFLICT
 *   CLOSE on a slot that holds a meeting         CHECKIN
 *   anything else                                NONE
 */
ngx_cms_slot_action_e ngx_cms_slot_decide_shape(ngx_cms_slot_shape_e shape,
    const ngx_cms_slot_view_t *slot, uint64_t key, uint64_t name_key,
    int has_secret);

/*
 * Both at once: decides a PUT to the space of slot `index` of `pool`;
 * key and name_key receive the PUT's meeting keys (0 when it names
 * none).
 */
ngx_cms_slot_action_e ngx_cms_slot_decide(const ngx_cms_slot_pool_t *pool,
    long index, const ngx_cms_slot_view_t *slot,
    const ngx_cms_slot_put_t *put, uint64_t *key, uint64_t *name_key);

const char *ngx_cms_slot_action_name(ngx_cms_slot_action_e action);
const char *ngx_cms_slot_state_name(ngx_cms_slot_state_e state);
const char *ngx_cms_slot_shape_name(ngx_cms_slot_shape_e shape);


#endif /* _NGX_CMS_SLOT_MODEL_H_INCLUDED_ */
