
/*
 * ngx_cms: $cms_request_id, the id of a request in the audit record, the
 * Redis stream and the access log.
 *
 * nginx's $request_id draws 16 random bytes from OpenSSL for every
 * request (RAND_bytes: about 5k instructions, the largest single item
 * of an audited call).  This one costs a counter increment and twelve
 * hex digits.  It has the same form, 32 lowercase hex digits, so what
 * reads one reads the other:
 *
 *    6 digits  instance: random, drawn at each configuration load
 *    8         the second this worker process made its first id
 *    6         the worker's pid (its low 24 bits)
 *   12         the worker's count of ids made
 *
 * Unique across proxies (instance), reloads and restarts (instance and
 * start time), workers (pid) and requests (counter).  It is not secret
 * and not unguessable: $request_id stays for whoever needs that.
 *
 * Our own answers (a refusal, a bridge that did not answer) carry it in
 * an X-Request-Id header next to the reason header, so a client's log
 * line leads to the audit record and the stream entry of the same call.
 */


#include "ngx_cms.h"


#define NGX_CMS_REQUEST_ID_LEN     32
#define NGX_CMS_REQUEST_ID_PREFIX  20


static uint32_t   ngx_cms_request_id_instance;
static ngx_pid_t  ngx_cms_request_id_pid;
static uint64_t   ngx_cms_request_id_count;
static u_char     ngx_cms_request_id_prefix[NGX_CMS_REQUEST_ID_PREFIX];


static ngx_str_t  ngx_cms_request_id_name = ngx_string("X-Request-Id");


static void ngx_cms_request_id_worker(void);
static void ngx_cms_request_id_hex(u_char *p, uint64_t n, size_t digits);


/*
 * At configuration time, in the master: a file read does not block a
 * worker here.  Without /dev/urandom the time and the pid still make
 * the instance differ from the last one.
 */

ngx_int_t
ngx_cms_request_id_init(ngx_conf_t *cf)
{
    ssize_t               n;
    uint32_t              r;
    ngx_fd_t              fd;
    ngx_str_t             name;
    struct timeval        tv;
    ngx_cms_main_conf_t  *mcf;

    r = 0;
    n = 0;

    fd = ngx_open_file("/dev/urandom", NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);

    if (fd != NGX_INVALID_FILE) {
        n = read(fd, &r, sizeof(r));
        (void) ngx_close_file(fd);
    }

    if (n != (ssize_t) sizeof(r)) {
        ngx_gettimeofday(&tv);
        r = (uint32_t) tv.tv_sec * 1000003u ^ (uint32_t) tv.tv_usec
            ^ (uint32_t) ngx_pid << 12;
    }

    ngx_cms_request_id_instance = r;
    ngx_cms_request_id_pid = 0;

    /* the header reads the cached variable: one id per request */

    mcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_cms_module);

    ngx_str_set(&name, "cms_request_id");

    mcf->request_id = ngx_http_get_variable_index(cf, &name);

    return (mcf->request_id == NGX_ERROR) ? NGX_ERROR : NGX_OK;
}


/* X-Request-Id: $cms_request_id, on an answer of our own */

ngx_int_t
ngx_cms_request_id_header(ngx_http_request_t *r)
{
    ngx_table_elt_t            *h;
    ngx_cms_main_conf_t        *mcf;
    ngx_http_variable_value_t  *vv;

    mcf = ngx_http_get_module_main_conf(r, ngx_http_cms_module);

    vv = ngx_http_get_indexed_variable(r, mcf->request_id);

    if (vv == NULL || vv->not_found) {
        return NGX_ERROR;
    }

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    h->key = ngx_cms_request_id_name;
    h->value.data = vv->data;
    h->value.len = vv->len;

    return NGX_OK;
}


ngx_int_t
ngx_cms_request_id_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    u_char         *p;
    ngx_cms_ctx_t  *ctx;

    /* in the room of the call's context, when there is one: no pool block */

    ctx = ngx_http_get_module_ctx(r, ngx_http_cms_module);

    p = ctx ? ngx_cms_ctx_palloc(ctx, r->pool, NGX_CMS_REQUEST_ID_LEN)
            : ngx_pnalloc(r->pool, NGX_CMS_REQUEST_ID_LEN);
    if (p == NULL) {
        return NGX_ERROR;
    }

    if (ngx_cms_request_id_pid != ngx_pid) {
        /* the first id of this process (a worker, or a new one) */
        ngx_cms_request_id_worker();
    }

    ngx_memcpy(p, ngx_cms_request_id_prefix, NGX_CMS_REQUEST_ID_PREFIX);
    ngx_cms_request_id_hex(p + NGX_CMS_REQUEST_ID_PREFIX,
                           ngx_cms_request_id_count++,
                           NGX_CMS_REQUEST_ID_LEN
                           - NGX_CMS_REQUEST_ID_PREFIX);

    v->data = p;
    v->len = NGX_CMS_REQUEST_ID_LEN;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;

    return NGX_OK;
}


static void
ngx_cms_request_id_worker(void)
{
    u_char  *p;

    p = ngx_cms_request_id_prefix;

    ngx_cms_request_id_hex(p, ngx_cms_request_id_instance & 0xffffff, 6);
    ngx_cms_request_id_hex(p + 6, (uint32_t) ngx_time(), 8);
    ngx_cms_request_id_hex(p + 14, (uint64_t) ngx_pid & 0xffffff, 6);

    ngx_cms_request_id_pid = ngx_pid;
    ngx_cms_request_id_count = 0;
}


/* the low digits * 4 bits of n, most significant first */

static void
ngx_cms_request_id_hex(u_char *p, uint64_t n, size_t digits)
{
    static const u_char  hex[] = "0123456789abcdef";

    while (digits) {
        p[--digits] = hex[n & 0xf];
        n >>= 4;
    }
}
