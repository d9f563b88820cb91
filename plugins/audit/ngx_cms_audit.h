
/*
 * ngx_cms audit plugin: declarations shared by its files.
 *
 *   ngx_cms_audit_plugin.c   the nginx module, directives, hooks, sinks
 *   ngx_cms_audit_record.c   one call or one event as one JSON object
 *   ngx_cms_audit_story.c    the "summary": what a call did, in words
 *   ngx_cms_audit_ring.c     the shared ring of a file (ring=)
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

#include "ngx_cms_bytes.h"
#include "ngx_cms_plugin.h"
#include "ngx_cms_json.h"


/* at least a few records of the largest size the stack buffer takes */
#define NGX_CMS_AUDIT_RING_MIN       (64 * 1024)


typedef struct ngx_cms_audit_ring_s  ngx_cms_audit_ring_t;


/* one file, shared by every cms_audit_log that names it */

typedef struct {
    ngx_open_file_t            *file;

    /* the buffer (buffer=); start is NULL when writing through */
    u_char                     *start;
    u_char                     *pos;
    u_char                     *last;
    size_t                      size;

    ngx_event_t                *event;     /* the flush timer */
    ngx_msec_t                  flush;

    ngx_cms_audit_ring_t       *ring;      /* ring=; NULL: none */
    size_t                      ring_size;

    time_t                      error_log_time;
    ngx_fd_t                    protected_fd; /* its mode was checked */
} ngx_cms_audit_file_t;


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


/* ngx_cms_audit_plugin.c */
extern ngx_module_t  ngx_cms_audit_module;

void ngx_cms_audit_write_fd(ngx_cms_audit_file_t *af, u_char *buf,
    size_t len, ngx_log_t *log);


/* ngx_cms_audit_ring.c */
ngx_cms_audit_ring_t *ngx_cms_audit_ring_create(ngx_conf_t *cf,
    ngx_cms_audit_file_t *af, size_t size, ngx_msec_t flush);
void ngx_cms_audit_ring_add(ngx_cms_audit_ring_t *ring, u_char *buf,
    size_t len, ngx_log_t *log);
void ngx_cms_audit_ring_flush(ngx_cms_audit_ring_t *ring, ngx_log_t *log);


#endif /* _NGX_CMS_AUDIT_H_INCLUDED_ */
