
/*
 * ngx_cms audit plugin: declarations shared by its files.
 *
 *   ngx_cms_audit_plugin.c   the nginx module, directives, hooks, sinks
 *   ngx_cms_audit_record.c   one call or one event as one JSON object
 *   ngx_cms_audit_story.c    the "summary": what a call did, in words
 *
 * JSON text is written with the project's one writer (ngx_cms_json.h).
 *
 * The record is built apart from any sink: a sink gets the bytes of one
 * JSON object and writes them where it likes (the file, and the Redis
 * stream of "cms_audit_stream").
 */


#ifndef _NGX_CMS_AUDIT_H_INCLUDED_
#define _NGX_CMS_AUDIT_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_cms_plugin.h"
#include "ngx_cms_json.h"


/* what a record says about a slot or another operation (the story) */

typedef enum {
    NGX_CMS_AUDIT_STORY_OTHER = 0,
    NGX_CMS_AUDIT_STORY_SLOT_OPEN,      /* nonMemberAccess=true, new name */
    NGX_CMS_AUDIT_STORY_SLOT_EXTEND,    /* the same PUT again */
    NGX_CMS_AUDIT_STORY_SLOT_CLOSE,     /* nonMemberAccess=false, name */
    NGX_CMS_AUDIT_STORY_RENAME          /* coSpace.modify with a name */
} ngx_cms_audit_story_e;


/* the operations the story tells apart */

typedef enum {
    NGX_CMS_AUDIT_OP_OTHER = 0,
    NGX_CMS_AUDIT_OP_SPACE_MODIFY,
    NGX_CMS_AUDIT_OP_CALL_CREATE,
    NGX_CMS_AUDIT_OP_CALL_DELETE,
    NGX_CMS_AUDIT_OP_LEG_CREATE,
    NGX_CMS_AUDIT_OP_PARTICIPANT_MOVE,
    NGX_CMS_AUDIT_OP_SET_CREATE,
    NGX_CMS_AUDIT_OP_SYNC_CREATE
} ngx_cms_audit_op_e;


/*
 * What the record needs besides the call itself (the core gives the
 * bridge's own status, the Location and whether a bridge answered).
 */

typedef struct {
    /* gathered by the plugin */
    ngx_str_t                   request_id;
    ngx_msec_t                  duration_ms;

    /* worked out by ngx_cms_audit_story_facts() */
    ngx_cms_audit_op_e          op;
    ngx_cms_audit_story_e       story;
    ngx_str_t                   meeting;    /* the meeting the call is
                                               about */
    ngx_str_t                   slot;       /* the slot's own name */
    ngx_str_t                   held;       /* a closed slot's meeting */
    unsigned                    done:1;     /* the change was made */
} ngx_cms_audit_facts_t;


/* ngx_cms_audit_record.c */

/*
 * The record of one call, written into buf (size bytes) if it fits there,
 * else allocated from pool.  rec->data has room for one byte more than
 * rec->len, so a line-oriented sink can append its newline in place and
 * write the record with one write().
 */
ngx_int_t ngx_cms_audit_call_record(ngx_pool_t *pool, u_char *buf,
    size_t size, ngx_cms_call_t *call, ngx_cms_audit_facts_t *facts,
    ngx_str_t *rec);

/*
 * The record of one event, in buf if it fits (with room for one more
 * byte), else from ngx_alloc(): the caller frees rec->data if it is not
 * buf.
 */
ngx_int_t ngx_cms_audit_event_record(u_char *buf, size_t size,
    ngx_cms_event_t *ev, ngx_log_t *log, ngx_str_t *rec);

/* the time fields every record starts with */
void ngx_cms_audit_record_time(ngx_cms_json_t *j);


/* ngx_cms_audit_story.c */
void ngx_cms_audit_story_facts(ngx_cms_call_t *call,
    ngx_cms_audit_facts_t *facts);
void ngx_cms_audit_story_summary(ngx_cms_json_t *j, ngx_cms_call_t *call,
    ngx_cms_audit_facts_t *facts);


#endif /* _NGX_CMS_AUDIT_H_INCLUDED_ */
