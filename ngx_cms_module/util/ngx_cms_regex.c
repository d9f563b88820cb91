
/*
 * ngx_cms: regular expressions with PCRE2's JIT (ngx_cms_regex.h).
 *
 * ngx_regex_compile() checks the pattern and gives the error messages
 * and the capture count nginx users know.  Its compiled code cannot be
 * JIT-compiled afterwards: its memory comes from nginx's allocator, which
 * only works inside ngx_regex_compile() (pcre2_jit_compile() then fails
 * with "no memory").  So the pattern is compiled once more, with the same
 * options and PCRE2's default contexts as nginx uses them (no UTF, the
 * default newline), into memory of PCRE2's own, JIT-compiled, and freed
 * with the configuration's pool (the JIT code with it).
 *
 * The JIT's results are the interpreter's, but not its limits: a match
 * that runs out of the JIT's stack (deep backtracking, 32 KB by default)
 * would fail where the interpreter, which keeps its frames on the heap,
 * succeeds.  That one case is matched again by the interpreter, so no
 * rule changes its verdict with the JIT.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_cms_regex.h"


#if !(NGX_PCRE2)
#error "ngx_cms needs nginx built with PCRE2"
#endif


static void ngx_cms_regex_free(void *data);
static ngx_int_t ngx_cms_regex_interpret(ngx_regex_t *re, ngx_str_t *s,
    int *captures, ngx_uint_t size);
static void ngx_cms_regex_captures(pcre2_match_data *md, int *captures,
    ngx_uint_t size);
static void ngx_cms_regex_md_free(void *data);


ngx_int_t
ngx_cms_regex_compile(ngx_regex_compile_t *rc)
{
    int                  n;
    uint32_t             options;
    PCRE2_SIZE           erroff;
    pcre2_code          *re;
    ngx_pool_cleanup_t  *cln;

    if (ngx_regex_compile(rc) != NGX_OK) {
        return NGX_ERROR;
    }

    /* nginx's translation of its options, which it has just accepted */

    options = 0;

    if (rc->options & NGX_REGEX_CASELESS) {
        options |= PCRE2_CASELESS;
    }

    if (rc->options & NGX_REGEX_MULTILINE) {
        options |= PCRE2_MULTILINE;
    }

    cln = ngx_pool_cleanup_add(rc->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    re = pcre2_compile(rc->pattern.data, rc->pattern.len, options, &n,
                       &erroff, NULL);

    if (re == NULL) {
        /* no memory: nginx's code, interpreted, does the same job */
        return NGX_OK;
    }

    cln->handler = ngx_cms_regex_free;
    cln->data = re;

    n = pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);

    if (n != 0) {
        /* no JIT here (PCRE2 without it, no executable memory) */
        ngx_log_debug2(NGX_LOG_DEBUG_CORE, ngx_cycle->log, 0,
                       "cms: pcre2_jit_compile() failed: %d in \"%V\", "
                       "the interpreter matches it", n, &rc->pattern);
    }

    rc->regex = re;

    return NGX_OK;
}


static void
ngx_cms_regex_free(void *data)
{
    pcre2_code_free(data);
}


/*
 * The JIT code is called directly (pcre2_jit_match(): pcre2_match() would
 * check the subject and the options again on every call, about as much
 * work as the match of a short pattern), with match data this process
 * keeps, grown to the most captures asked for, and freed with the cycle
 * (before the module is unloaded); what comes back is what
 * ngx_regex_exec() gives.  A pattern that has no JIT code is matched by
 * ngx_regex_exec().
 */

static pcre2_match_data  *ngx_cms_regex_md;
static uint32_t           ngx_cms_regex_md_pairs;


ngx_int_t
ngx_cms_regex_exec(ngx_regex_t *re, ngx_str_t *s, int *captures,
    ngx_uint_t size)
{
    int                  rc;
    uint32_t             pairs;
    pcre2_match_data    *md;
    ngx_pool_cleanup_t  *cln;

    pairs = size / 3 ? size / 3 : 1;

    if (ngx_cms_regex_md == NULL) {
        cln = ngx_pool_cleanup_add(ngx_cycle->pool, 0);
        if (cln == NULL) {
            return ngx_regex_exec(re, s, captures, size);
        }

        cln->handler = ngx_cms_regex_md_free;

        ngx_cms_regex_md_pairs = 0;
    }

    if (ngx_cms_regex_md == NULL || ngx_cms_regex_md_pairs < pairs) {
        md = pcre2_match_data_create(pairs, NULL);
        if (md == NULL) {
            return PCRE2_ERROR_NOMEMORY;
        }

        if (ngx_cms_regex_md) {
            pcre2_match_data_free(ngx_cms_regex_md);
        }

        ngx_cms_regex_md = md;
        ngx_cms_regex_md_pairs = pairs;
    }

    md = ngx_cms_regex_md;

    rc = pcre2_jit_match(re, s->data, s->len, 0, 0, md, NULL);

    if (rc == PCRE2_ERROR_JIT_BADOPTION) {
        /* no JIT code for this pattern */
        return ngx_regex_exec(re, s, captures, size);
    }

    if (rc == PCRE2_ERROR_JIT_STACKLIMIT) {
        return ngx_cms_regex_interpret(re, s, captures, size);
    }

    if (rc >= 0 && size) {
        ngx_cms_regex_captures(md, captures, size);
    }

    return rc;
}


/* ngx_regex_exec() without the JIT: PCRE2_NO_JIT, its own match data */

static ngx_int_t
ngx_cms_regex_interpret(ngx_regex_t *re, ngx_str_t *s, int *captures,
    ngx_uint_t size)
{
    int                rc;
    pcre2_match_data  *md;

    md = pcre2_match_data_create(size / 3 ? size / 3 : 1, NULL);
    if (md == NULL) {
        return PCRE2_ERROR_NOMEMORY;
    }

    rc = pcre2_match(re, s->data, s->len, 0, PCRE2_NO_JIT, md, NULL);

    if (rc >= 0 && size) {
        ngx_cms_regex_captures(md, captures, size);
    }

    pcre2_match_data_free(md);

    return rc;
}


/* the offsets of a match, as many pairs as captures has room for */

static void
ngx_cms_regex_captures(pcre2_match_data *md, int *captures, ngx_uint_t size)
{
    size_t      *ov;
    ngx_uint_t   i, n;

    n = pcre2_get_ovector_count(md);
    ov = pcre2_get_ovector_pointer(md);

    if (n > size / 3) {
        n = size / 3;
    }

    for (i = 0; i < n; i++) {
        captures[i * 2] = ov[i * 2];
        captures[i * 2 + 1] = ov[i * 2 + 1];
    }
}


static void
ngx_cms_regex_md_free(void *data)
{
    if (ngx_cms_regex_md) {
        pcre2_match_data_free(ngx_cms_regex_md);
        ngx_cms_regex_md = NULL;
        ngx_cms_regex_md_pairs = 0;
    }
}
