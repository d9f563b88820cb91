/*
 * ngx_cms: application/x-www-form-urlencoded request bodies.
 *
 * Pure code: plain buffers in, no nginx types, no allocation (the caller
 * provides the scratch memory and the parameter array), no mutable global
 * state.
 */


#ifndef _NGX_CMS_FORM_H_INCLUDED_
#define _NGX_CMS_FORM_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>

#include "ngx_cms_api.h"


#define NGX_CMS_FORM_OK            0
#define NGX_CMS_FORM_E_ESCAPE     -1   /* '%' not followed by two hex digits */
#define NGX_CMS_FORM_E_NUL        -2   /* a NUL byte, raw or as %00 */
#define NGX_CMS_FORM_E_TOO_MANY   -3   /* more than max_params parameters */
#define NGX_CMS_FORM_E_EMPTY_NAME -4   /* "=value": '=' with no name */
#define NGX_CMS_FORM_E_SCRATCH    -5   /* scratch_size below the bound */


/*
 * Scratch memory that always suffices for a body of len bytes: decoding
 * never makes a name or a value longer than its raw bytes.
 */

#define NGX_CMS_FORM_SCRATCH_SIZE(len)  ((len) + 1)


/*
 * A name and a value, decoded, with their lengths (neither ends in a
 * NUL): in the body itself when nothing in it needed decoding (the
 * common body, TMS's), else in the scratch.
 */

typedef struct {
    unsigned char   *name;
    size_t           name_len;
    unsigned char   *value;
    size_t           value_len;
    unsigned         has_eq;       /* "a=" vs "a" */
} ngx_cms_form_param_t;


typedef struct {
    int              code;         /* NGX_CMS_FORM_OK or NGX_CMS_FORM_E_* */
    size_t           offset;       /* of the offending byte in the body */
    const char      *message;      /* static text */
} ngx_cms_form_error_t;


/*
 * Parses body into params[0 .. *nparams), in order, duplicates kept.
 * Components are split on '&' only; empty ones are skipped; the first
 * '=' ends the name; '+' is a space, "%XX" a byte (either case); any
 * other byte, a raw space included, is kept.  Returns NGX_CMS_FORM_OK or
 * an NGX_CMS_FORM_E_* code, with err (if not NULL) set to the code, the
 * offset of the offending byte ('%', NUL, '=' or the start of the
 * component) and a static message.  On error the parameters before it
 * are filled but must not be taken as the body's meaning.
 *
 * Decoded names and values point into the body or into scratch, which
 * needs at most NGX_CMS_FORM_SCRATCH_SIZE(len) bytes and is written only
 * when the body has something to decode; a parameter without '=' has as
 * its value the empty string at the end of its name.  The body must
 * outlive the parameters.
 */

int ngx_cms_form_parse(const unsigned char *body, size_t len,
    unsigned char *scratch, size_t scratch_size,
    ngx_cms_form_param_t *params, size_t max_params, size_t *nparams,
    ngx_cms_form_error_t *err);

/*
 * The raw bytes (still encoded) of the name and the value of params[i]
 * of a parse of this body, found again by walking its components: for
 * the checks of the parser (unit tests, fuzzer), not for requests.
 */

void ngx_cms_form_raw(const unsigned char *body, size_t len, size_t i,
    ngx_cms_span_t *name, ngx_cms_span_t *value);

/*
 * The first parameter with this decoded name, compared without case (as
 * CMS compares them), or NULL.  repeated: a parameter whose name an
 * earlier one already had, in any case, or NULL.  name_eq: two names
 * equal without case (ASCII).
 */

ngx_cms_form_param_t *ngx_cms_form_get(ngx_cms_form_param_t *params,
    size_t n, const char *name);
ngx_cms_form_param_t *ngx_cms_form_get_n(ngx_cms_form_param_t *params,
    size_t n, const unsigned char *name, size_t len);
ngx_cms_form_param_t *ngx_cms_form_repeated_from(
    ngx_cms_form_param_t *params, size_t n, size_t i);
int ngx_cms_form_name_eq(const unsigned char *a, size_t alen,
    const unsigned char *b, size_t blen);

/*
 * repeated, inline: the lengths seen so far (modulo 64), as bits, up to
 * the first name whose length was seen before; no name before it can
 * repeat another.  A body whose names all differ in length (most) is one
 * pass of shifts; from there on repeated_from() compares the names.
 */

static inline ngx_cms_form_param_t *
ngx_cms_form_repeated(ngx_cms_form_param_t *params, size_t n)
{
    size_t    i;
    uint64_t  seen, bit;

    seen = 0;

    for (i = 0; i < n; i++) {
        bit = (uint64_t) 1 << (params[i].name_len & 63);

        if (seen & bit) {
            return ngx_cms_form_repeated_from(params, n, i);
        }

        seen |= bit;
    }

    return NULL;
}

/*
 * Serializes the decoded names and values (whatever a hook set them to):
 * joined by '&' with no leading '&', unreserved bytes (ALPHA DIGIT - . _
 * ~) kept, a space as '+', anything else as upper-case "%XX"; '=' is
 * written when the parameter had one or now has a value.  Names must not
 * be empty.  encode writes exactly encoded_len bytes, no NUL, and
 * returns the end.  escape encodes one string and returns its length;
 * with dst NULL it only counts.
 */

size_t ngx_cms_form_encoded_len(const ngx_cms_form_param_t *params,
    size_t n);
unsigned char *ngx_cms_form_encode(const ngx_cms_form_param_t *params,
    size_t n, unsigned char *dst);
size_t ngx_cms_form_escape(unsigned char *dst, const unsigned char *src,
    size_t len);

/*
 * Whether the audit must mask this parameter's value: names containing
 * "passcode", "password", "secret", "token" or "key" in any case, except
 * a few CMS names whose values are flags or modes (regenerateSecret,
 * passcodeMode, passcodeTimeout, allowPasscodes, allowSecrets,
 * canChangePasscode).
 */

int ngx_cms_form_is_secret(const unsigned char *name, size_t len);


#endif /* _NGX_CMS_FORM_H_INCLUDED_ */
