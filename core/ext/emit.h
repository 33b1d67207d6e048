/*
 * The emitter (emit.c): writes statistics as text or as JSON, one call per value, after
 * jemalloc's emitter.h. It formats into a buffer inside emit_t (on the caller's stack) and hands
 * full buffers to the caller's callback; callers emit between lock holds, never during one.
 *
 * Containers nest (objects, arrays, table rows). In JSON each value is "key": value; in text
 * an object with a header is one line, "header: label value, label value", its nested objects
 * indented lines of their own. A value's text label says how it reads in text:
 *   NULL      not written in text       ""       " value" (right after the header: "arena 0")
 *   "(name"   " (name value)"           "name"   ": name value", then ", name value"
 * and a NULL key leaves a value out of the JSON. Options containers write " name:value";
 * table rows write each value right-aligned under its label (emit_head_begin prints the labels).
 *
 * Every function here is O(length of what it writes), allocates nothing and may call the
 * callback; none takes a lock. Not for interrupt handlers (the callback is the caller's).
 */
#ifndef BM_EMIT_H
#define BM_EMIT_H

#include "ext.h"

typedef struct emit {
    void (*cb)(void *opaque, const char *text); /* NULL: line by line to bm_port_log */
    void *opaque;
    bool json;
    bool line;      /* text: a line is open */
    bool head;      /* text: table rows write their labels (emit_head_begin) */
    uint8_t sep;    /* text, open line: 0 after a header, 1 at a bare line start, 2 after a value */
    unsigned depth; /* containers open */
    unsigned tdepth; /* text: containers open with a header (the indent) */
    uint32_t nonempty, array, headed, options, row; /* bit d: of the container at depth d */
    size_t len;
    char buf[BM_STATS_BUF];
} emit_t;

void emit_init(emit_t *e, void (*cb)(void *opaque, const char *text), void *opaque, bool json);
void emit_flush(emit_t *e);              /* hands what is buffered to the callback */
void emit_raw(emit_t *e, const char *s); /* s as it is, in either format */

/* Containers: key NULL inside arrays; header NULL for none (text writes nothing then). */
void emit_open_object(emit_t *e, const char *key, const char *header);
void emit_open_array(emit_t *e, const char *key, const char *header);
void emit_open_options(emit_t *e, const char *key, const char *header);
void emit_open_row(emit_t *e, const char *header); /* text: a table row, header blank unless head */
void emit_close(emit_t *e);

/* Values. emit_kv_milli writes thousandths as 0.123. */
void emit_kv_u64(emit_t *e, const char *key, const char *label, uint64_t v);
void emit_kv_bool(emit_t *e, const char *key, const char *label, bool v);
void emit_kv_str(emit_t *e, const char *key, const char *label, const char *v);
void emit_kv_ptr(emit_t *e, const char *key, const char *label, uintptr_t v);
void emit_kv_milli(emit_t *e, const char *key, const char *label, unsigned milli);

/* Format-specific output: a text line at the current indent (nothing in JSON), a raw JSON
 * array element (nothing in text). printf subset: %s %c %d %u %zu %llu %x %zx %p, width, '-'
 * and '0' flags, %%; an unknown conversion prints '?'. */
void emit_text_line(emit_t *e, const char *fmt, ...);
void emit_json_item(emit_t *e, bool newline, const char *fmt, ...);

/* Text only: true when the next row is to write labels (call the row, then emit_head_end). */
bool emit_head_begin(emit_t *e);
void emit_head_end(emit_t *e);

#endif /* BM_EMIT_H */
