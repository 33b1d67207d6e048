/*
 * The emitter: one call per value, written as text or as JSON (emit.h says the layouts).
 * A private printf subset on the buffer in emit_t: no libc, and no 64-bit division on 32-bit
 * targets (which would come from libgcc). Everything here is O(output), allocates nothing and
 * takes no lock; the callback runs when the buffer fills and at emit_flush.
 */
#include <stdarg.h>

#include "emit.h"

#define BIT(d) ((uint32_t)1 << (d))

/* O(1). Starts e afresh (whatever it held is dropped); cb NULL: lines go to bm_port_log. No
 * lock, any context: nothing is written yet. */
void emit_init(emit_t *e, void (*cb)(void *opaque, const char *text), void *opaque, bool json) {
    __builtin_memset(e, 0, sizeof *e - sizeof e->buf);
    e->cb = cb;
    e->opaque = opaque;
    e->json = json;
}

/* O(buffer). Without a callback each line goes to bm_port_log (which takes no newline); with
 * one, an empty buffer makes no call. No lock; not from an interrupt handler (the callback). */
void emit_flush(emit_t *e) {
    if (!e->len && e->cb)
        return;
    e->buf[e->len] = 0;
    if (e->cb)
        e->cb(e->opaque, e->buf);
    else
        bm_port_log(e->buf);
    e->len = 0;
}

/* O(1), O(buffer) when it flushes: the buffer is full, or a newline without a callback
 * (bm_port_log takes whole lines). Any c. No lock; not from an interrupt handler (the callback). */
static void out_char(emit_t *e, char c) {
    if (!e->cb && c == '\n') {
        emit_flush(e);
        return;
    }
    e->buf[e->len++] = c;
    if (e->len == sizeof e->buf - 1)
        emit_flush(e);
}

/* O(length of s). s as it is, not escaped, in either format (s must not be NULL). No lock; not
 * from an interrupt handler (the callback). */
void emit_raw(emit_t *e, const char *s) {
    while (*s)
        out_char(e, *s++);
}

/* O(n) spaces. No lock; not from an interrupt handler (the callback). */
static void out_pad(emit_t *e, size_t n) {
    for (; n; n--)
        out_char(e, ' ');
}

/* v / 10 and v % 10 without a 64-bit division on 32-bit targets (libgcc's would be linked).
 * O(1), any v, no lock, any context. */
static uint64_t div10(uint64_t v, unsigned *rem) {
#if __SIZEOF_POINTER__ == 8
    *rem = (unsigned)(v % 10);
    return v / 10;
#else
    uint64_t q = (v >> 1) + (v >> 2);
    q += q >> 4;
    q += q >> 8;
    q += q >> 16;
    q += q >> 32;
    q >>= 3;
    uint64_t r = v - q * 10;
    while (r > 9) {
        q++;
        r -= 10;
    }
    *rem = (unsigned)r;
    return q;
#endif
}

/* O(digits + width). v in base 16, or 10 for any other base; '-' first when negative; padded to
 * width (left: after; zero: zeros, which go before a sign). No lock; not from an interrupt
 * handler (the callback). */
static void out_number(emit_t *e, uint64_t v, bool negative, unsigned base, unsigned width, bool left, bool zero) {
    char digits[24];
    unsigned n = 0;
    do {
        unsigned d;
        if (base == 16) {
            d = (unsigned)(v & 15);
            v >>= 4;
        } else {
            v = div10(v, &d);
        }
        digits[n++] = "0123456789abcdef"[d];
    } while (v);
    if (negative)
        digits[n++] = '-';
    unsigned pad = width > n ? width - n : 0;
    if (!left)
        for (; pad; pad--)
            out_char(e, zero ? '0' : ' ');
    while (n)
        out_char(e, digits[--n]);
    out_pad(e, pad);
}

/* O(fmt + output). The printf subset of emit.h; an unknown conversion, or a '%' ending fmt,
 * prints '?'; arguments must match fmt and %s must not be NULL (as printf). No lock; not from an
 * interrupt handler (the callback). */
static void out_vprintf(emit_t *e, const char *fmt, va_list ap) {
    for (; *fmt; fmt++) {
        if (*fmt != '%') {
            out_char(e, *fmt);
            continue;
        }
        fmt++;
        bool left = false, zero = false;
        for (; *fmt == '-' || *fmt == '0'; fmt++) {
            if (*fmt == '-')
                left = true;
            else
                zero = true;
        }
        unsigned width = 0;
        for (; *fmt >= '0' && *fmt <= '9'; fmt++)
            width = width * 10 + (unsigned)(*fmt - '0');
        int size = 0; /* 0 int, 1 size_t, 2 long long */
        if (*fmt == 'z') {
            size = 1;
            fmt++;
        } else if (fmt[0] == 'l' && fmt[1] == 'l') {
            size = 2;
            fmt += 2;
        }
        uint64_t v = 0;
        switch (*fmt) {
        case 's': {
            const char *s = va_arg(ap, const char *);
            size_t n = bm_text_len(s);
            if (!left)
                out_pad(e, width > n ? width - n : 0);
            emit_raw(e, s);
            if (left)
                out_pad(e, width > n ? width - n : 0);
            break;
        }
        case 'c':
            out_char(e, (char)va_arg(ap, int));
            break;
        case 'd': {
            int d = va_arg(ap, int);
            out_number(e, d < 0 ? (uint64_t)-(int64_t)d : (uint64_t)d, d < 0, 10, width, left, zero);
            break;
        }
        case 'u':
        case 'x':
            v = size == 1 ? va_arg(ap, size_t) : size == 2 ? va_arg(ap, unsigned long long) : va_arg(ap, unsigned);
            out_number(e, v, false, *fmt == 'x' ? 16 : 10, width, left, zero);
            break;
        case 'p':
            emit_raw(e, "0x");
            out_number(e, (uintptr_t)va_arg(ap, void *), false, 16, width, left, zero);
            break;
        case '%':
            out_char(e, '%');
            break;
        default:
            out_char(e, '?');
            if (!*fmt)
                fmt--;
            break;
        }
    }
}

/* ---- JSON punctuation ------------------------------------------------------------------------ */

/* O(depth). JSON: a new line indented one space per open container. No lock; not from an
 * interrupt handler (the callback). */
static void j_newline(emit_t *e) {
    out_char(e, '\n');
    out_pad(e, e->depth);
}

/* Before an element of the current container: the comma, and a new line unless inline.
 * O(depth). No lock; not from an interrupt handler (the callback). */
static void j_element(emit_t *e, bool newline) {
    if (e->nonempty & BIT(e->depth))
        out_char(e, ',');
    e->nonempty |= BIT(e->depth);
    if (newline)
        j_newline(e);
}

/* O(length of s). s as a JSON string: quotes and backslashes escaped, control characters dropped
 * (valid JSON without \u escapes). No lock; not from an interrupt handler (the callback). */
static void j_string(emit_t *e, const char *s) {
    out_char(e, '"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            out_char(e, '\\');
        if ((unsigned char)*s >= 0x20)
            out_char(e, *s);
    }
    out_char(e, '"');
}

/* ---- text lines ------------------------------------------------------------------------------ */

/* O(1). Text: ends the open line, if any. No lock; not from an interrupt handler (the callback). */
static void t_endline(emit_t *e) {
    if (e->line)
        out_char(e, '\n');
    e->line = false;
}

/* O(indent). Text: ends the open line and starts one, indented two spaces per headed
 * container. No lock; not from an interrupt handler (the callback). */
static void t_startline(emit_t *e) {
    t_endline(e);
    out_pad(e, 2 * (size_t)e->tdepth);
    e->line = true;
}

/* ---- containers ------------------------------------------------------------------------------ */

/* O(header). The root (depth 0) starts without a new line, so output begins with '{'. At most
 * 31 containers deep (one bit each in the masks). No lock; not from an interrupt handler. */
static void open_container(emit_t *e, const char *key, const char *header, bool array, uint32_t *style) {
    if (e->json) {
        if (e->depth)
            j_element(e, true);
        if (key) {
            j_string(e, key);
            emit_raw(e, ": ");
        }
        out_char(e, array ? '[' : '{');
    }
    e->depth++;
    uint32_t bit = BIT(e->depth);
    e->nonempty &= ~bit;
    e->array = array ? e->array | bit : e->array & ~bit;
    e->options &= ~bit;
    e->row &= ~bit;
    if (style)
        *style |= bit;
    e->headed &= ~bit;
    if (!e->json && header) {
        t_startline(e);
        if (!(e->row & bit) || e->head)
            emit_raw(e, header);
        else
            out_pad(e, bm_text_len(header));
        e->sep = 0;
        e->headed |= bit;
        e->tdepth++;
    }
}

/* An object: open_container (O(header), at most 31 deep, no lock, not for interrupt handlers). */
void emit_open_object(emit_t *e, const char *key, const char *header) { open_container(e, key, header, false, NULL); }
/* An array: open_container (O(header), at most 31 deep, no lock, not for interrupt handlers). */
void emit_open_array(emit_t *e, const char *key, const char *header) { open_container(e, key, header, true, NULL); }
/* An object whose text reads " name:value": open_container (O(header), at most 31 deep, no
 * lock, not from an interrupt handler). */
void emit_open_options(emit_t *e, const char *key, const char *header) {
    open_container(e, key, header, false, &e->options);
}
/* A table row (text: header blank unless labels are due): open_container (O(header), at most
 * 31 deep, no lock, not from an interrupt handler). */
void emit_open_row(emit_t *e, const char *header) { open_container(e, NULL, header, false, &e->row); }

/* O(indent). Closing more than was opened does nothing. Text: a headed container ends its line.
 * No lock; not from an interrupt handler (the callback). */
void emit_close(emit_t *e) {
    if (!e->depth)
        return;
    uint32_t bit = BIT(e->depth);
    if (!e->json && (e->headed & bit)) {
        t_endline(e);
        e->tdepth--;
    }
    e->depth--;
    if (e->json) {
        if (e->nonempty & bit)
            j_newline(e);
        out_char(e, e->array & bit ? ']' : '}');
    }
}

/* ---- values ---------------------------------------------------------------------------------- */

typedef enum { V_U64, V_BOOL, V_STR, V_PTR, V_MILLI } vtype_t;

/* O(digits). Decimal digits of v, 1 for 0; any v. No lock, any context. */
static size_t digits10(uint64_t v) {
    size_t n = 1;
    unsigned rem;
    while ((v = div10(v, &rem)) != 0)
        n++;
    return n;
}

/* O(value). One value in text, or in JSON when quote (strings escaped, pointers quoted); an
 * unknown type is written as thousandths; a V_STR s must not be NULL. No lock; not from an
 * interrupt handler (the callback). */
static void put_value(emit_t *e, vtype_t type, uint64_t v, const char *s, bool quote) {
    switch (type) {
    case V_U64:
        out_number(e, v, false, 10, 0, false, false);
        break;
    case V_BOOL:
        emit_raw(e, v ? "true" : "false");
        break;
    case V_STR:
        if (quote)
            j_string(e, s);
        else
            emit_raw(e, s);
        break;
    case V_PTR:
        if (quote)
            out_char(e, '"');
        emit_raw(e, "0x");
        out_number(e, v, false, 16, 0, false, false);
        if (quote)
            out_char(e, '"');
        break;
    default:
        out_number(e, (unsigned)v / 1000, false, 10, 0, false, false); /* milli: an unsigned */
        out_char(e, '.');
        out_number(e, (unsigned)v % 1000, false, 10, 3, false, true);
        break;
    }
}

/* Characters put_value writes in text (table columns are right-aligned). O(its length); 0 for
 * pointers (not in tables) and unknown types. No lock, any context. */
static size_t value_len(vtype_t type, uint64_t v, const char *s) {
    switch (type) {
    case V_U64:
        return digits10(v);
    case V_BOOL:
        return v ? 4 : 5;
    case V_STR:
        return bm_text_len(s);
    case V_MILLI:
        return digits10((unsigned)v / 1000) + 4;
    default:
        return 0; /* pointers: not in tables */
    }
}

/* O(label + value). One value: JSON leaves it out for a NULL key, text for a NULL label
 * (layouts: emit.h). No lock; not from an interrupt handler (the callback). */
static void kv(emit_t *e, const char *key, const char *label, vtype_t type, uint64_t v, const char *s) {
    if (e->json) {
        if (!key)
            return;
        j_element(e, true);
        j_string(e, key);
        emit_raw(e, ": ");
        put_value(e, type, v, s, true);
        return;
    }
    if (!label)
        return;
    uint32_t bit = BIT(e->depth);
    if (!e->line) { /* a value after a nested line: continue on a line of its own */
        t_startline(e);
        e->sep = 1;
    }
    if (e->row & bit) {
        size_t width = bm_text_len(label) + 2, n = e->head ? width - 2 : value_len(type, v, s);
        out_pad(e, width > n ? width - n : 0);
        if (e->head)
            emit_raw(e, label);
        else
            put_value(e, type, v, s, false);
        return;
    }
    if (e->head)
        return;
    if (e->options & bit) {
        out_char(e, ' ');
        emit_raw(e, label);
        out_char(e, ':');
    } else if (label[0] == 0 || label[0] == '(') {
        emit_raw(e, label[0] ? " " : "");
        emit_raw(e, label);
        out_char(e, ' ');
    } else {
        emit_raw(e, e->sep == 0 ? ": " : e->sep == 2 ? ", " : "");
        emit_raw(e, label);
        out_char(e, ' ');
        e->sep = 2;
    }
    put_value(e, type, v, s, false);
    if (label[0] == '(' && !(e->options & bit))
        out_char(e, ')');
}

/* A decimal value, through kv: O(label + digits), NULL key or label left out of that format.
 * No lock; not from an interrupt handler (the callback). */
void emit_kv_u64(emit_t *e, const char *key, const char *label, uint64_t v) { kv(e, key, label, V_U64, v, NULL); }
/* true or false, through kv: O(label), NULL key or label left out of that format. No lock; not
 * from an interrupt handler (the callback). */
void emit_kv_bool(emit_t *e, const char *key, const char *label, bool v) { kv(e, key, label, V_BOOL, v, NULL); }
/* A string (JSON: escaped), through kv: O(label + v), v must not be NULL, NULL key or label left
 * out of that format. No lock; not from an interrupt handler (the callback). */
void emit_kv_str(emit_t *e, const char *key, const char *label, const char *v) { kv(e, key, label, V_STR, 0, v); }
/* 0x and hex digits (JSON: as a string), through kv: O(label), NULL key or label left out of that
 * format. No lock; not from an interrupt handler (the callback). */
void emit_kv_ptr(emit_t *e, const char *key, const char *label, uintptr_t v) { kv(e, key, label, V_PTR, v, NULL); }
/* Thousandths as 0.123, through kv: O(label + digits), NULL key or label left out of that
 * format. No lock; not from an interrupt handler (the callback). */
void emit_kv_milli(emit_t *e, const char *key, const char *label, unsigned milli) {
    kv(e, key, label, V_MILLI, milli, NULL);
}

/* ---- format-specific output ------------------------------------------------------------------ */

/* O(fmt + output). Text only (JSON: nothing): a line at the current indent, fmt as out_vprintf
 * reads it. No lock; not from an interrupt handler (the callback). */
void emit_text_line(emit_t *e, const char *fmt, ...) {
    if (e->json)
        return;
    t_startline(e);
    va_list ap;
    va_start(ap, fmt);
    out_vprintf(e, fmt, ap);
    va_end(ap);
}

/* O(fmt + output). JSON only (text: nothing): a raw element after its comma, on a new line when
 * newline, fmt as out_vprintf reads it. No lock; not from an interrupt handler (the callback). */
void emit_json_item(emit_t *e, bool newline, const char *fmt, ...) {
    if (!e->json)
        return;
    j_element(e, newline);
    va_list ap;
    va_start(ap, fmt);
    out_vprintf(e, fmt, ap);
    va_end(ap);
}

/* O(1). Text: the next row writes its labels, true; JSON has none: false. No lock, any context. */
bool emit_head_begin(emit_t *e) {
    e->head = !e->json;
    return e->head;
}

/* O(1). Rows write their values again. No lock, any context. */
void emit_head_end(emit_t *e) { e->head = false; }
