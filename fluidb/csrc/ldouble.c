/*
 * Long double helpers for fluidB.
 *
 * Redis 7.0 implements INCRBYFLOAT and HINCRBYFLOAT with the C `long double`
 * type (80-bit x87 extended precision on x86_64). Rust has no such type, so
 * the arithmetic and the formatting are done here, in C, reproducing the
 * logic of Redis's string2ld() and ld2string(..., LD_STR_HUMAN) from util.c.
 *
 * Every function takes explicit lengths; nothing relies on NUL-terminated
 * input, and every write to an output buffer is bounds-checked.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Same value as Redis's MAX_LONG_DOUBLE_CHARS (util.h): the largest input
 * string2ld() accepts is one byte shorter than this, and ld2string() formats
 * into a buffer of this size. */
#define FLUIDB_MAX_LONG_DOUBLE_CHARS (5 * 1024)

/* Error codes returned (negated) by fluidb_ld_incr(). Keep in sync with
 * fluidb/src/util/ldouble.rs. */
#define FLUIDB_LD_ERR_CUR (-1)      /* current value is not a valid float */
#define FLUIDB_LD_ERR_INCR (-2)     /* increment is not a valid float */
#define FLUIDB_LD_ERR_RESULT (-3)   /* result is NaN or infinite */
#define FLUIDB_LD_ERR_INCR_INF (-4) /* increment itself is NaN/infinite */
#define FLUIDB_LD_ERR_BUF (-5)      /* output buffer too small */

/* Flag for fluidb_ld_incr(): apply HINCRBYFLOAT's extra check that rejects an
 * infinite increment before the current value is even looked at. */
#define FLUIDB_LD_FLAG_CHECK_INCR_INF 1

/* Port of Redis 7.0 string2ld(): strict strtold() that rejects empty input,
 * inputs of MAX_LONG_DOUBLE_CHARS bytes or more, leading white space,
 * trailing garbage (including embedded NUL bytes), overflow to +/-inf,
 * underflow to zero, and NaN. Returns 1 on success, 0 on failure. */
static int fluidb_string2ld_impl(const char *s, size_t slen, long double *dp) {
    char buf[FLUIDB_MAX_LONG_DOUBLE_CHARS];
    long double value;
    char *eptr;

    if (s == NULL || slen == 0 || slen >= sizeof(buf)) return 0;
    memcpy(buf, s, slen);
    buf[slen] = '\0';

    errno = 0;
    value = strtold(buf, &eptr);
    if (isspace((unsigned char)buf[0]) || eptr[0] != '\0' ||
        (size_t)(eptr - buf) != slen ||
        (errno == ERANGE &&
         (value == HUGE_VAL || value == -HUGE_VAL ||
          fpclassify(value) == FP_ZERO)) ||
        errno == EINVAL || isnan(value))
        return 0;

    if (dp) *dp = value;
    return 1;
}

/* Port of Redis 7.0 ld2string(..., LD_STR_HUMAN): "%.17Lf", then trailing
 * zeros after the dot are trimmed, then a trailing dot, and "-0" becomes "0".
 * Infinity is printed as "inf" / "-inf". Returns the length written to out
 * (not NUL-terminated), or FLUIDB_LD_ERR_BUF if it does not fit. */
static int fluidb_ld2string_human_impl(long double value, char *out,
                                       size_t outcap) {
    char buf[FLUIDB_MAX_LONG_DOUBLE_CHARS];
    size_t l = 0;

    if (isinf(value)) {
        if (value > 0) {
            memcpy(buf, "inf", 3);
            l = 3;
        } else {
            memcpy(buf, "-inf", 4);
            l = 4;
        }
    } else {
        int n = snprintf(buf, sizeof(buf), "%.17Lf", value);
        if (n < 0) return FLUIDB_LD_ERR_BUF;
        l = (size_t)n;
        /* Redis returns 0 (an empty string) when there is no room. */
        if (l + 1 > sizeof(buf)) {
            l = 0;
        } else {
            if (memchr(buf, '.', l) != NULL) {
                while (l > 0 && buf[l - 1] == '0') l--;
                if (l > 0 && buf[l - 1] == '.') l--;
            }
            if (l == 2 && buf[0] == '-' && buf[1] == '0') {
                buf[0] = '0';
                l = 1;
            }
        }
    }
    if (out == NULL || l > outcap) return FLUIDB_LD_ERR_BUF;
    memcpy(out, buf, l);
    return (int)l;
}

/* Returns 1 if `s` is accepted by Redis's string2ld(), 0 otherwise. */
int fluidb_string2ld_valid(const char *s, size_t slen) {
    return fluidb_string2ld_impl(s, slen, NULL);
}

/* Parses `s` with string2ld() and formats it back with
 * ld2string(LD_STR_HUMAN). Returns the output length, FLUIDB_LD_ERR_CUR if
 * `s` is not a valid long double, or FLUIDB_LD_ERR_BUF. */
int fluidb_ld_normalize_human(const char *s, size_t slen, char *out,
                              size_t outcap) {
    long double v;
    if (!fluidb_string2ld_impl(s, slen, &v)) return FLUIDB_LD_ERR_CUR;
    return fluidb_ld2string_human_impl(v, out, outcap);
}

/* Formats a double (widened to long double, as Redis's
 * addReplyHumanLongDouble() does for GEO coordinates) with
 * ld2string(LD_STR_HUMAN). */
int fluidb_f64_to_human(double d, char *out, size_t outcap) {
    return fluidb_ld2string_human_impl((long double)d, out, outcap);
}

/* The INCRBYFLOAT / HINCRBYFLOAT arithmetic.
 *
 * `cur` may be NULL (missing key / field): the current value is then 0.
 * Otherwise it is parsed with string2ld(). `incr` is parsed with string2ld().
 * The sum is computed in long double; a NaN or infinite result is rejected.
 * The result is written with ld2string(LD_STR_HUMAN).
 *
 * Order of checks follows Redis:
 *  - flags & FLUIDB_LD_FLAG_CHECK_INCR_INF (HINCRBYFLOAT): incr parsed
 *    first, then rejected if infinite, then cur parsed;
 *  - otherwise (INCRBYFLOAT): cur parsed first, then incr.
 *
 * Returns the output length (>= 0) or a negative FLUIDB_LD_ERR_* code. */
int fluidb_ld_incr(const char *cur, size_t curlen, const char *incr,
                   size_t incrlen, int flags, char *out, size_t outcap) {
    long double value = 0, inc = 0;

    if (flags & FLUIDB_LD_FLAG_CHECK_INCR_INF) {
        if (!fluidb_string2ld_impl(incr, incrlen, &inc))
            return FLUIDB_LD_ERR_INCR;
        if (isnan(inc) || isinf(inc)) return FLUIDB_LD_ERR_INCR_INF;
        if (cur != NULL && !fluidb_string2ld_impl(cur, curlen, &value))
            return FLUIDB_LD_ERR_CUR;
    } else {
        if (cur != NULL && !fluidb_string2ld_impl(cur, curlen, &value))
            return FLUIDB_LD_ERR_CUR;
        if (!fluidb_string2ld_impl(incr, incrlen, &inc))
            return FLUIDB_LD_ERR_INCR;
    }

    value += inc;
    if (isnan(value) || isinf(value)) return FLUIDB_LD_ERR_RESULT;
    return fluidb_ld2string_human_impl(value, out, outcap);
}
