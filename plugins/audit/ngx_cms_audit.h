
/*
 * ngx_cms audit plugin: declarations shared by its files.
 *
 *   ngx_cms_audit_plugin.c   the nginx module, directives, hooks, file sink
 *   ngx_cms_audit_record.c   one call or one event as one JSON object
 *   ngx_cms_audit_story.c    the "summary": what a call did, in words
 *   ngx_cms_audit_names.c    coSpace names this worker has seen
 *   ngx_cms_audit_json.c     JSON text (pure code)
 *
 * The record is built apart from any sink: a sink gets the bytes of one
 * JSON object and writes them where it likes (a file now, a Redis stream
 * later).
 */


#ifndef _NGX_CMS_AUDIT_H_INCLUDED_
#define _NGX_CMS_AUDIT_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_cms_plugin.h"
#include "ngx_cms_audit_json.h"


/* what a record says about a slot or another operation (the story) */

typedef enum {
    NGX_CMS_AUDIT_STORY_OTHER = 0,
    NGX_CMS_AUDIT_STORY_SLOT_OPEN,      /* nonMemberAccess=true, new name */
    NGX_CMS_AUDIT_STORY_SLOT_EXTEND,    /* the same PUT again */
    NGX_CMS_AUDIT_STORY_SLOT_CLOSE,     /* nonMemberAccess=false, name */
    NGX_CMS_AUDIT_STORY_RENAME          /* coSpace.modify with a name */
} ngx_cms_audit_story_e;


/* what the record needs besides the call itself */

typedef struct {
    /* gathered by the plugin */
    ngx_str_t                   request_id;
    ngx_uint_t                  bridge_status;  /* 0: no bridge answered */
    ngx_msec_t                  duration_ms;
    ngx_str_t                   location;       /* the answer's Location */
    ngx_str_t                   location_id;    /* its last segment */
    unsigned                    upstream_failed:1;

    /* worked out by ngx_cms_audit_story_facts() */
    ngx_cms_audit_story_e       story;
    ngx_str_t                   meeting;    /* the name a slot PUT sets */
    ngx_str_t                   slot;       /* the slot's own name */
    ngx_str_t                   old_name;   /* the coSpace's name before */
    ngx_str_t                   space_name; /* call.create: its coSpace */
    unsigned                    done:1;     /* the change was made */
} ngx_cms_audit_facts_t;


/* ngx_cms_audit_record.c */

/*
 * The record of one call, allocated from pool.  rec->data has room for
 * one byte more than rec->len, so a line-oriented sink can append its
 * newline in place and write the record with one write().
 */
ngx_int_t ngx_cms_audit_call_record(ngx_pool_t *pool, ngx_cms_call_t *call,
    ngx_cms_audit_facts_t *facts, ngx_str_t *rec);

/* the record of one event, from ngx_alloc(); the caller frees it */
ngx_int_t ngx_cms_audit_event_record(ngx_cms_event_t *ev, ngx_log_t *log,
    ngx_str_t *rec);

/* the time fields every record starts with */
void ngx_cms_audit_record_time(ngx_cms_audit_json_t *j);


/* ngx_cms_audit_story.c */
void ngx_cms_audit_story_facts(ngx_cms_call_t *call,
    ngx_cms_audit_facts_t *facts);
void ngx_cms_audit_story_summary(ngx_cms_audit_json_t *j, ngx_cms_call_t *call,
    ngx_cms_audit_facts_t *facts);
void ngx_cms_audit_story_learn(ngx_cms_call_t *call,
    ngx_cms_audit_facts_t *facts, ngx_log_t *log);
void ngx_cms_audit_story_learn_response(ngx_cms_call_t *call,
    ngx_log_t *log);
ngx_uint_t ngx_cms_audit_story_wants_response(ngx_cms_call_t *call);


/* ngx_cms_audit_names.c */

/*
 * Lookups fill name and slot with pointers into the table: they stay
 * valid until the next ngx_cms_audit_names_set() or _forget().
 */
ngx_uint_t ngx_cms_audit_names_get(ngx_str_t *id, ngx_str_t *name,
    ngx_str_t *slot);
void ngx_cms_audit_names_set(ngx_str_t *id, ngx_str_t *name,
    ngx_str_t *slot, ngx_log_t *log);
void ngx_cms_audit_names_forget(ngx_str_t *id);


#endif /* _NGX_CMS_AUDIT_H_INCLUDED_ */
