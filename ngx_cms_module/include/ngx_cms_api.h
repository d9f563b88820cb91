/*
 * ngx_cms: classification of a CMS REST API request path.
 *
 * Pure code: plain buffers in, static strings and spans out, no nginx
 * types, no allocation; the only global state is the lookup tables that
 * ngx_cms_api_init() builds once and nothing changes after.  It is built
 * inside nginx and also alone for the unit tests and fuzzers in t/.
 */


#ifndef _NGX_CMS_API_H_INCLUDED_
#define _NGX_CMS_API_H_INCLUDED_


#include <stddef.h>


/* a piece of the caller's buffer; never NUL-terminated */

typedef struct {
    const unsigned char  *data;
    size_t                len;
} ngx_cms_span_t;


typedef enum {
    NGX_CMS_METHOD_GET = 0,
    NGX_CMS_METHOD_POST,
    NGX_CMS_METHOD_PUT,
    NGX_CMS_METHOD_DELETE,
    NGX_CMS_METHOD_OTHER
} ngx_cms_method_e;


typedef enum {
    NGX_CMS_API_OK = 0,        /* under /api/v1, classified (maybe unknown) */
    NGX_CMS_API_NOT_API,       /* a clean path, not under /api/v1 */
    NGX_CMS_API_BAD_PATH       /* refused, see bad_reason */
} ngx_cms_api_rc_e;


/* limits on the part of the path after /api/v1 */

#define NGX_CMS_API_MAX_SEGMENTS     8
#define NGX_CMS_API_MAX_SEGMENT_LEN  128


/*
 * What ngx_cms_api_classify() found.  Every string is static, every span
 * points into the path passed in; nothing needs freeing.
 *
 * The path is read as /api/v1/<collection>[/<id>[/<sub>[/<sub id>]]],
 * where <collection> may be several segments ("system/status").  The
 * spans are filled by position even when the names are not recognised,
 * so an unknown path is still described; collection and sub_collection
 * are set whenever the names are recognised, even if the operation is
 * not (NGX_CMS_METHOD_OTHER, or a POST to an object).
 */

typedef struct {
    const char      *collection;      /* canonical spelling or NULL */
    ngx_cms_span_t   collection_raw;  /* as the client spelled it */
    ngx_cms_span_t   object_id;       /* empty if none */
    const char      *sub_collection;  /* canonical spelling or NULL */
    ngx_cms_span_t   sub_raw;
    ngx_cms_span_t   sub_id;
    const char      *operation;       /* never NULL: "unknown" at worst */
    ngx_cms_span_t   call_id;         /* the <id> of calls/<id>[/...] */
    unsigned         known:1;         /* operation is not "unknown" */
    unsigned         call_scoped:1;   /* calls, callLegs, participants */
    unsigned         write:1;         /* POST, PUT or DELETE */
    const char      *bad_reason;      /* static text when BAD_PATH */
} ngx_cms_api_req_t;


/*
 * Classifies a raw request path, without its query string (a '?' ends
 * the path anyway).  The whole path is checked first, then the
 * "/api/v1" prefix (any letter case):
 *
 *   BAD_PATH  anywhere in the path: dot segments, '%', empty segments
 *             ("//"), bytes below 0x21 and 0x7f, '\', ';', '#', or not
 *             starting with '/' (outside /api/v1 too, as the bridge might
 *             normalise such a path into an API path); below /api/v1:
 *             more than NGX_CMS_API_MAX_SEGMENTS segments, or one longer
 *             than NGX_CMS_API_MAX_SEGMENT_LEN bytes.
 *   NOT_API   a clean path not under /api/v1.
 *   OK        under /api/v1.  Names match case-insensitively, one trailing
 *             slash is ignored, ids are kept verbatim.  An unknown
 *             collection, sub or method gives operation "unknown" and
 *             known 0; "/api/v1" alone is OK with collection NULL.
 *
 * req is always fully set: operation is "unknown" unless OK says more,
 * write follows the method whatever rc is.
 */

ngx_cms_api_rc_e ngx_cms_api_classify(const unsigned char *path, size_t len,
    ngx_cms_method_e method, ngx_cms_api_req_t *req);

/*
 * Builds the lookup tables classification uses (once; later calls do
 * nothing).  The module calls it at configuration time, so the workers
 * share the tables; ngx_cms_api_classify() calls it itself if nobody
 * did (the unit tests, the fuzzers).  Not thread-safe before that.
 */

void ngx_cms_api_init(void);

/*
 * "participant.move" for a participant.create whose body has
 * movedParticipant (CMM's move), req->operation otherwise.
 */

const char *ngx_cms_api_refine(const ngx_cms_api_req_t *req,
    int has_moved_participant);

/* true when the body can refine the operation: a participant.create */

int ngx_cms_api_may_move(const ngx_cms_api_req_t *req);

/*
 * For policy rules, checked at configuration time: true for every name
 * ngx_cms_api_classify() or ngx_cms_api_refine() can return (including
 * "unknown"), for "*", and for "<prefix>.*" when some such name starts
 * with "<prefix>.".  Case-sensitive, as names are always canonical.
 * ngx_cms_api_operation_match() applies the same pattern syntax.
 */

int ngx_cms_api_operation_valid(const unsigned char *name, size_t len);
int ngx_cms_api_operation_match(const unsigned char *pattern, size_t len,
    const char *operation);

/* "GET", "POST", "PUT", "DELETE" or "OTHER" */

const char *ngx_cms_method_name(ngx_cms_method_e m);


#endif /* _NGX_CMS_API_H_INCLUDED_ */
