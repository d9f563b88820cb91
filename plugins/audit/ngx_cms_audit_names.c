
/*
 * ngx_cms audit: the coSpace names this worker has seen.
 *
 * A slot PUT names the coSpace by id only; to tell "opened slot
 * TMS_Scheduled_Meeting_1" the audit needs the name the space had before.
 * TMS reads the coSpace list just before it opens a slot, so the names
 * learned from list answers and from earlier PUTs are usually at hand.
 *
 * This is a cache, never a source of truth: a small set-associative
 * table per worker (an id can live in any of the ways of its set, the
 * least recently used one makes room), nothing shared between workers.
 * A name that is not known leaves the record with the coSpace id
 * instead; nothing else depends on it.
 */


#include "ngx_cms_audit.h"


#define NGX_CMS_AUDIT_SETS      64
#define NGX_CMS_AUDIT_WAYS      8
#define NGX_CMS_AUDIT_ID_MAX    63     /* CMS ids are 36-byte GUIDs */
#define NGX_CMS_AUDIT_NAME_MAX  191


typedef struct {
    ngx_uint_t                  used;      /* when last looked up or set */
    u_char                      id[NGX_CMS_AUDIT_ID_MAX];
    u_char                      id_len;
    u_char                      name_len;
    u_char                      slot_len;
    u_char                      name[NGX_CMS_AUDIT_NAME_MAX];
    u_char                      slot[NGX_CMS_AUDIT_NAME_MAX];
} ngx_cms_audit_name_t;


static ngx_cms_audit_name_t *ngx_cms_audit_names_entry(ngx_str_t *id,
    ngx_uint_t create, ngx_log_t *log);


/* per worker, allocated on first use, lives as long as the process */
static ngx_cms_audit_name_t  *ngx_cms_audit_names;
static ngx_uint_t             ngx_cms_audit_names_clock;


static ngx_cms_audit_name_t *
ngx_cms_audit_names_entry(ngx_str_t *id, ngx_uint_t create, ngx_log_t *log)
{
    ngx_uint_t             i;
    ngx_cms_audit_name_t  *set, *e;

    if (id->len == 0 || id->len > NGX_CMS_AUDIT_ID_MAX) {
        return NULL;
    }

    if (ngx_cms_audit_names == NULL) {
        if (!create) {
            return NULL;
        }

        ngx_cms_audit_names = ngx_calloc(NGX_CMS_AUDIT_SETS
                                         * NGX_CMS_AUDIT_WAYS
                                         * sizeof(ngx_cms_audit_name_t),
                                         log);
        if (ngx_cms_audit_names == NULL) {
            return NULL;
        }
    }

    set = &ngx_cms_audit_names[(ngx_hash_key_lc(id->data, id->len)
                                % NGX_CMS_AUDIT_SETS)
                               * NGX_CMS_AUDIT_WAYS];

    /* ids are GUIDs, and CMS takes them in either case */

    e = NULL;

    for (i = 0; i < NGX_CMS_AUDIT_WAYS; i++) {
        if (set[i].id_len == id->len
            && ngx_strncasecmp(set[i].id, id->data, id->len) == 0)
        {
            e = &set[i];
            break;
        }
    }

    if (e == NULL) {
        if (!create) {
            return NULL;
        }

        /* an empty way (used 0) or the least recently used one */

        e = &set[0];

        for (i = 1; i < NGX_CMS_AUDIT_WAYS; i++) {
            if (set[i].used < e->used) {
                e = &set[i];
            }
        }

        ngx_memzero(e, sizeof(ngx_cms_audit_name_t));
        ngx_memcpy(e->id, id->data, id->len);
        e->id_len = (u_char) id->len;
    }

    e->used = ++ngx_cms_audit_names_clock;

    return e;
}


ngx_uint_t
ngx_cms_audit_names_get(ngx_str_t *id, ngx_str_t *name, ngx_str_t *slot)
{
    ngx_cms_audit_name_t  *e;

    ngx_str_null(name);
    ngx_str_null(slot);

    e = ngx_cms_audit_names_entry(id, 0, NULL);
    if (e == NULL) {
        return 0;
    }

    name->data = e->name;
    name->len = e->name_len;
    slot->data = e->slot;
    slot->len = e->slot_len;

    return 1;
}


/* slot NULL: keep the slot name known so far */

void
ngx_cms_audit_names_set(ngx_str_t *id, ngx_str_t *name, ngx_str_t *slot,
    ngx_log_t *log)
{
    ngx_cms_audit_name_t  *e;

    e = ngx_cms_audit_names_entry(id, 1, log);
    if (e == NULL) {
        return;
    }

    /*
     * A name too long for the table is forgotten rather than cut: a cut
     * name would never compare equal, and "extended" would read
     * "opened".
     */

    if (name->len <= NGX_CMS_AUDIT_NAME_MAX) {
        ngx_memcpy(e->name, name->data, name->len);
        e->name_len = (u_char) name->len;

    } else {
        e->name_len = 0;
    }

    if (slot) {
        if (slot->len <= NGX_CMS_AUDIT_NAME_MAX) {
            ngx_memcpy(e->slot, slot->data, slot->len);
            e->slot_len = (u_char) slot->len;

        } else {
            e->slot_len = 0;
        }
    }
}


void
ngx_cms_audit_names_forget(ngx_str_t *id)
{
    ngx_cms_audit_name_t  *e;

    e = ngx_cms_audit_names_entry(id, 0, NULL);
    if (e) {
        ngx_memzero(e, sizeof(ngx_cms_audit_name_t));
    }
}
