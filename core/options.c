/*
 * The options string, in jemalloc's form: "narenas:4,tcache_max:1024,dirty_max:20".
 * Read at initialisation from bm_malloc_conf, then the port's environment (BM_MALLOC_CONF
 * on the host), then bm_config.options; later sources override earlier ones. A bad entry is
 * reported through bm_port_log naming the option, and its default is kept.
 */
#include "internal.h"

typedef enum { OPT_UINT, OPT_BOOL, OPT_ENUM } option_kind_t;

typedef struct option_spec {
    const char *name;
    option_kind_t kind;
    size_t offset;   /* in bm_options_t */
    size_t size;     /* of the field */
    size_t min, max; /* accepted range */
    const char *const *names; /* OPT_ENUM: the value's spelling, indexed by value */
} option_spec_t;

static const char *const arena_rule_names[] = {"core", "node"};
static const char *const purge_names[] = {"sync", "idle"};

#define OPT_FIELD(field) offsetof(bm_options_t, field), sizeof(((bm_options_t *)0)->field)

static const option_spec_t option_specs[] = {
    {"narenas", OPT_UINT, OPT_FIELD(narenas), 0, BM_MAX_ARENAS, NULL},
    {"tcache", OPT_BOOL, OPT_FIELD(tcache), 0, 1, NULL},
    {"tcache_max", OPT_UINT, OPT_FIELD(tcache_max), 0, BM_LARGE_MAX, NULL},
    {"tcache_slots", OPT_UINT, OPT_FIELD(tcache_slots), 1, BM_TCACHE_SLOTS_MAX, NULL},
    {"tcache_slots_large", OPT_UINT, OPT_FIELD(tcache_slots_large), 1, BM_TCACHE_SLOTS_MAX, NULL},
    {"tcache_batch", OPT_UINT, OPT_FIELD(tcache_batch_pct), 1, 100, NULL},
    {"tcache_flush", OPT_UINT, OPT_FIELD(tcache_flush_pct), 1, 100, NULL},
    {"dirty_max", OPT_UINT, OPT_FIELD(dirty_max_pct), 0, 1000, NULL},
    {"retain", OPT_BOOL, OPT_FIELD(retain), 0, 1, NULL},
    {"arena_rule", OPT_ENUM, OPT_FIELD(arena_rule), 0, 1, arena_rule_names},
    {"dirty_min", OPT_UINT, OPT_FIELD(dirty_min), 0, (size_t)1 << (sizeof(size_t) * 8 - 2), NULL},
    {"purge", OPT_ENUM, OPT_FIELD(purge), 0, 1, purge_names},
    {"purge_age", OPT_UINT, OPT_FIELD(purge_age), 0, UINT32_MAX, NULL},
};

unsigned bm_option_count(void) { return sizeof option_specs / sizeof option_specs[0]; }
const char *bm_option_name(unsigned i) { return option_specs[i].name; }
bool bm_option_is_bool(unsigned i) { return option_specs[i].kind == OPT_BOOL; }
size_t bm_option_size(unsigned i) { return option_specs[i].size; }

const char *bm_option_text(unsigned i, size_t value) {
    const option_spec_t *spec = &option_specs[i];
    return spec->kind == OPT_ENUM && value <= spec->max ? spec->names[value] : NULL;
}

size_t bm_option_value(const bm_options_t *opt, unsigned i) {
    const char *field = (const char *)opt + option_specs[i].offset;
    switch (option_specs[i].size) {
    case sizeof(bool):
        return *(const bool *)field;
    case sizeof(unsigned):
        return *(const unsigned *)field;
    default:
        return *(const size_t *)field;
    }
}

static void option_store(bm_options_t *opt, const option_spec_t *spec, size_t value) {
    char *field = (char *)opt + spec->offset;
    switch (spec->size) {
    case sizeof(bool):
        *(bool *)field = value != 0;
        break;
    case sizeof(unsigned):
        *(unsigned *)field = (unsigned)value;
        break;
    default:
        *(size_t *)field = value;
        break;
    }
}

void bm_options_defaults(bm_options_t *opt) {
    opt->narenas = BM_DEFAULT_NARENAS;
    opt->tcache = BM_DEFAULT_TCACHE;
    opt->tcache_max = BM_DEFAULT_TCACHE_MAX;
    opt->tcache_slots = BM_DEFAULT_TCACHE_SLOTS;
    opt->tcache_slots_large = BM_DEFAULT_TCACHE_SLOTS_LARGE;
    opt->tcache_batch_pct = 50;
    opt->tcache_flush_pct = 50;
    opt->dirty_max_pct = 10;
    opt->retain = false; /* pooled chunks' pages go back by age (they stayed backed for good) */
    opt->arena_rule = 0;
    opt->dirty_min = BM_CHUNK; /* below a chunk's worth purging costs more than it returns */
    opt->purge = 0;
    opt->purge_age = BM_DEFAULT_PURGE_AGE;
    opt->tcache_bin_bytes = BM_TCACHE_BIN_BYTES;
    opt->tcache_scaled = 0;
}

static unsigned clamp_slots(size_t n, unsigned lo, unsigned hi) { return n < lo ? lo : n > hi ? hi : (unsigned)n; }

void bm_options_resolve(bm_options_t *opt, size_t heap_bytes, unsigned ncores) {
    /* A bigger heap affords more cached blocks: the per-class bins are what keep a sawtooth of
     * many live blocks off the arena lock, and what they can hold idle grows with the heap.
     * Each core has its own cache, so each gets its share of the heap, and a share of that
     * again by the core count: an allocation that fails can take back its own core's cache
     * but not the others', so with n cores those hold (n - 1) / n^2 of what one core's does
     * on one core (at most a quarter). Divided once, the blocks the other core held on the
     * two-core mps2-an521 left no two free chunks for its 16 KB blocks in 2 runs of 5. */
    unsigned n = ncores ? ncores : 1;
    size_t share = heap_bytes / n / n;
    if (!opt->tcache_slots || (opt->tcache_scaled & 1u)) {
        opt->tcache_slots = clamp_slots(share >> 13, 8, 32);
        opt->tcache_scaled |= 1u;
    }
    if (!opt->tcache_slots_large || (opt->tcache_scaled & 2u)) {
        opt->tcache_slots_large = clamp_slots(share >> 15, 2, 8);
        opt->tcache_scaled |= 2u;
    }
#if BM_TCACHE_BIN_BYTES
    opt->tcache_bin_bytes = BM_TCACHE_BIN_BYTES;
#else
    opt->tcache_bin_bytes = share / 32;
#endif
}

/* Appends text to buf (capacity cap, always NUL-terminated); returns the new length. */
static size_t text_append(char *buf, size_t len, size_t cap, const char *text, size_t n) {
    for (size_t i = 0; i < n && text[i] && len + 1 < cap; i++)
        buf[len++] = text[i];
    buf[len] = 0;
    return len;
}

static void option_warn(const char *name, size_t name_len, const char *what) {
    char line[160];
    size_t len = text_append(line, 0, sizeof line, "baremalloc: option '", 20);
    len = text_append(line, len, sizeof line, name, name_len);
    len = text_append(line, len, sizeof line, "': ", 3);
    text_append(line, len, sizeof line, what, bm_text_len(what));
    bm_port_log(line);
}

static bool text_equal(const char *a, size_t n, const char *b) {
    size_t m = bm_text_len(b);
    if (m != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (a[i] != b[i])
            return false;
    return true;
}

/* Decimal with an optional k/m/g suffix (powers of 1024); false if malformed or too big. */
static bool parse_size(const char *s, size_t n, size_t *out) {
    size_t value = 0, i = 0;
    if (n == 0)
        return false;
    for (; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
        if (__builtin_mul_overflow(value, 10, &value) || __builtin_add_overflow(value, (size_t)(s[i] - '0'), &value))
            return false;
    }
    if (i == 0)
        return false;
    if (i + 1 == n) {
        unsigned shift = s[i] == 'k' || s[i] == 'K' ? 10 : s[i] == 'm' || s[i] == 'M' ? 20 :
                         s[i] == 'g' || s[i] == 'G' ? 30 : 99;
        if (shift == 99 || (value >> (sizeof(size_t) * 8 - shift)))
            return false;
        value <<= shift;
        i++;
    }
    if (i != n)
        return false;
    *out = value;
    return true;
}

static bool parse_value(const option_spec_t *spec, const char *s, size_t n, size_t *out) {
    switch (spec->kind) {
    case OPT_BOOL:
        if (text_equal(s, n, "true") || text_equal(s, n, "1")) {
            *out = 1;
            return true;
        }
        if (text_equal(s, n, "false") || text_equal(s, n, "0")) {
            *out = 0;
            return true;
        }
        return false;
    case OPT_ENUM:
        for (size_t v = 0; v <= spec->max; v++) {
            if (text_equal(s, n, spec->names[v])) {
                *out = v;
                return true;
            }
        }
        return false;
    default:
        return parse_size(s, n, out);
    }
}

/* Returns the number of entries rejected. */
int bm_options_parse(bm_options_t *opt, const char *text) {
    int rejected = 0;
    if (!text)
        return 0;
    while (*text) {
        const char *entry = text;
        size_t len = 0;
        while (entry[len] && entry[len] != ',')
            len++;
        text = entry + len + (entry[len] == ',');
        if (len == 0)
            continue;
        size_t name_len = 0;
        while (name_len < len && entry[name_len] != ':')
            name_len++;
        if (name_len == len) {
            option_warn(entry, len, "expected name:value; ignored");
            rejected++;
            continue;
        }
        const option_spec_t *spec = NULL;
        for (unsigned i = 0; i < bm_option_count(); i++)
            if (text_equal(entry, name_len, option_specs[i].name))
                spec = &option_specs[i];
        if (!spec) {
            option_warn(entry, name_len, "unknown option; ignored");
            rejected++;
            continue;
        }
        size_t value;
        if (!parse_value(spec, entry + name_len + 1, len - name_len - 1, &value)) {
            option_warn(entry, name_len, "malformed value; default kept");
            rejected++;
        } else if (value < spec->min || value > spec->max) {
            option_warn(entry, name_len, "value out of range; default kept");
            rejected++;
        } else {
            option_store(opt, spec, value);
        }
    }
    return rejected;
}
