/*
 * inspect.c - `glimpse --inspect FILE [--json]`: describe a GGUF model file.
 *
 * The human summary picks out what a user wants to know before loading a
 * model (architecture, hyper-parameters, tokenizer, tensor types and sizes,
 * parameter count); --json dumps the whole header - every metadata key and
 * the tensor directory - as one JSON object for scripts, with long arrays
 * (vocabularies) summarised by their first elements.
 */
#include "config.h"

#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "glimpse/gguf.h"
#include "glimpse/quant.h"

#define JSON_ARRAY_FULL 16      /* longer arrays are summarised ... */
#define JSON_ARRAY_HEAD 8       /* ... by this many leading elements */

/* ---------------------------------------------------------------- strings */

/* Length of the valid UTF-8 sequence at s[0..n), or 0 if it is invalid. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t k;
    uint32_t cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        k = 2;
        cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        k = 3;
        cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        k = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (n < k)
        return 0;
    for (size_t i = 1; i < k; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    /* overlong forms, surrogates, beyond U+10FFFF */
    if ((k == 3 && cp < 0x800) || (k == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return k;
}

/* A JSON string for arbitrary bytes: invalid UTF-8 becomes U+FFFD, so a
 * damaged vocabulary still dumps. */
static json_t *json_bytes(const char *p, uint64_t n)
{
    const unsigned char *s = (const unsigned char *)p;
    size_t bad = 0;
    for (uint64_t i = 0; i < n;) {
        size_t k = utf8_len(s + i, (size_t)(n - i));
        bad += k == 0;
        i += k ? k : 1;
    }
    if (!bad)
        return json_stringn(p, (size_t)n);
    char *buf = malloc((size_t)n + 2 * bad + 1);
    if (!buf)
        return NULL;
    size_t o = 0;
    for (uint64_t i = 0; i < n;) {
        size_t k = utf8_len(s + i, (size_t)(n - i));
        if (k) {
            memcpy(buf + o, s + i, k);
            o += k;
            i += k;
        } else {
            memcpy(buf + o, "\xef\xbf\xbd", 3);
            o += 3;
            i++;
        }
    }
    json_t *j = json_stringn(buf, o);
    free(buf);
    return j;
}

/* ---------------------------------------------------------------- JSON */

static json_t *json_num(double x)
{
    /* JSON has no NaN or infinity. */
    return isfinite(x) ? json_real(x) : json_null();
}

static json_t *json_u64(uint64_t x)
{
    return x <= (uint64_t)INT64_MAX ? json_integer((json_int_t)x) : json_real((double)x);
}

static json_t *value_json(const struct gguf_value *v);

/* Element i of an array value. */
static json_t *element_json(const struct gguf_value *arr, uint64_t i)
{
    enum gguf_vtype t = arr->v.arr.type;
    if (arr->v.arr.items)
        return value_json(&arr->v.arr.items[i]);
    switch (t) {
    case GGUF_VT_F32:
    case GGUF_VT_F64:
        return json_num(gguf_arr_f64(arr, i));
    case GGUF_VT_BOOL:
        return json_boolean(gguf_arr_i64(arr, i) != 0);
    case GGUF_VT_U64:
        return json_u64((uint64_t)gguf_arr_i64(arr, i));
    default:
        return json_integer(gguf_arr_i64(arr, i));
    }
}

static json_t *array_json(const struct gguf_value *v)
{
    uint64_t n = v->v.arr.n;
    bool summary = n > JSON_ARRAY_FULL;
    uint64_t shown = summary ? JSON_ARRAY_HEAD : n;
    json_t *items = json_array();
    for (uint64_t i = 0; items && i < shown; i++)
        json_array_append_new(items, element_json(v, i));
    if (!summary)
        return items;
    json_t *o = json_object();
    json_object_set_new(o, "type", json_string("array"));
    json_object_set_new(o, "element_type", json_string(gguf_vtype_name(v->v.arr.type)));
    json_object_set_new(o, "count", json_u64(n));
    json_object_set_new(o, "head", items);
    return o;
}

static json_t *value_json(const struct gguf_value *v)
{
    switch (v->type) {
    case GGUF_VT_U8:
    case GGUF_VT_U16:
    case GGUF_VT_U32:
    case GGUF_VT_U64:
        return json_u64(v->v.u64);
    case GGUF_VT_I8:
    case GGUF_VT_I16:
    case GGUF_VT_I32:
    case GGUF_VT_I64:
        return json_integer(v->v.i64);
    case GGUF_VT_F32:
    case GGUF_VT_F64:
        return json_num(v->v.f64);
    case GGUF_VT_BOOL:
        return json_boolean(v->v.b);
    case GGUF_VT_STR:
        return json_bytes(v->v.str.ptr, v->v.str.len);
    case GGUF_VT_ARR:
        return array_json(v);
    default:
        return json_null();
    }
}

static int inspect_json(const gguf_file *f)
{
    json_t *root = json_object(), *meta = json_object(), *tens = json_array();
    if (!root || !meta || !tens) {
        json_decref(root);
        json_decref(meta);
        json_decref(tens);
        fprintf(stderr, "glimpse: out of memory\n");
        return EXIT_RUNTIME;
    }
    json_object_set_new(root, "file", json_bytes(gguf_path(f), strlen(gguf_path(f))));
    json_object_set_new(root, "size", json_u64(gguf_file_size(f)));
    json_object_set_new(root, "version", json_integer(gguf_version(f)));
    json_object_set_new(root, "alignment", json_integer(gguf_alignment(f)));
    json_object_set_new(root, "data_offset", json_u64(gguf_data_offset(f)));
    for (int64_t i = 0; i < gguf_n_kv(f); i++) {
        const struct gguf_kv *kv = gguf_kv_at(f, i);
        json_t *k = json_bytes(kv->key.ptr, kv->key.len);
        if (k)
            json_object_set_new(meta, json_string_value(k), value_json(&kv->val));
        json_decref(k);
    }
    json_object_set_new(root, "metadata", meta);
    for (int64_t i = 0; i < gguf_n_tensors(f); i++) {
        const struct gguf_tensor *t = gguf_tensor_at(f, i);
        json_t *o = json_object(), *dims = json_array();
        for (int d = 0; d < t->n_dims; d++)
            json_array_append_new(dims, json_integer(t->ne[d]));
        json_object_set_new(o, "name", json_bytes(t->name, strlen(t->name)));
        json_object_set_new(o, "type", json_string(gl_type_name(t->type)));
        json_object_set_new(o, "dims", dims);
        json_object_set_new(o, "offset", json_u64(t->offset));
        json_object_set_new(o, "bytes", json_u64(t->nbytes));
        json_array_append_new(tens, o);
    }
    json_object_set_new(root, "tensors", tens);
    int rc = json_dumpf(root, stdout, JSON_INDENT(2)) == 0 ? EXIT_OK : EXIT_RUNTIME;
    json_decref(root);
    putchar('\n');
    if (rc != EXIT_OK || fflush(stdout) != 0) {
        fprintf(stderr, "glimpse: cannot write the JSON output\n");
        return EXIT_RUNTIME;
    }
    return EXIT_OK;
}

/* ---------------------------------------------------------------- summary */

/* "12.5 MiB" */
static void human_bytes(char *buf, size_t cap, uint64_t n)
{
    static const char *const units[] = {"bytes", "KiB", "MiB", "GiB", "TiB"};
    double x = (double)n;
    int u = 0;
    while (x >= 1024 && u < 4) {
        x /= 1024;
        u++;
    }
    if (u == 0)
        snprintf(buf, cap, "%" PRIu64 " bytes", n);
    else
        snprintf(buf, cap, "%.1f %s", x, units[u]);
}

/* "6.74 B", "8.92 M", "512" */
static void human_count(char *buf, size_t cap, uint64_t n)
{
    if (n >= 1000000000ull)
        snprintf(buf, cap, "%.2f B", (double)n / 1e9);
    else if (n >= 1000000ull)
        snprintf(buf, cap, "%.2f M", (double)n / 1e6);
    else if (n >= 1000ull)
        snprintf(buf, cap, "%.2f K", (double)n / 1e3);
    else
        snprintf(buf, cap, "%" PRIu64, n);
}

/* Print a string value (at most `max` bytes, control characters as '?'). */
static void put_str(struct gguf_str s, size_t max)
{
    size_t n = s.len < max ? (size_t)s.len : max;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s.ptr[i];
        putchar(c < 0x20 || c == 0x7f ? '?' : c);
    }
    if (s.len > max)
        fputs("...", stdout);
}

/* One "label: value" line for an integer or float key; `dflt` (may be NULL)
 * is shown when the key is absent. */
static void show_num(const gguf_file *f, const char *label, const char *key, const char *dflt)
{
    const struct gguf_value *v = gguf_get(f, key);
    printf("  %-22s ", label);
    if (!v)
        printf("%s\n", dflt ? dflt : "-");
    else if (v->type == GGUF_VT_F32 || v->type == GGUF_VT_F64)
        printf("%g\n", v->v.f64);
    else if (v->type == GGUF_VT_U8 || v->type == GGUF_VT_U16 || v->type == GGUF_VT_U32 ||
             v->type == GGUF_VT_U64)
        printf("%" PRIu64 "\n", v->v.u64);
    else if (v->type == GGUF_VT_I8 || v->type == GGUF_VT_I16 || v->type == GGUF_VT_I32 ||
             v->type == GGUF_VT_I64)
        printf("%" PRId64 "\n", v->v.i64);
    else
        printf("(a %s, not a number)\n", gguf_vtype_name(v->type));
}

static void show_str(const gguf_file *f, const char *label, const char *key, const char *dflt)
{
    struct gguf_str s;
    int rc = gguf_get_str(f, key, &s, NULL);
    printf("  %-22s ", label);
    if (rc == 0)
        put_str(s, 200);
    else if (rc == 1)
        fputs(dflt ? dflt : "-", stdout);
    else
        fputs("(not a string)", stdout);
    putchar('\n');
}

/* "<arch>.<suffix>" */
static const char *akey(char *buf, size_t cap, struct gguf_str arch, const char *suffix)
{
    snprintf(buf, cap, "%.*s.%s", (int)(arch.len < 64 ? arch.len : 64), arch.ptr, suffix);
    return buf;
}

static void show_llm(const gguf_file *f, struct gguf_str arch)
{
    char k[128];
    show_num(f, "context length", akey(k, sizeof k, arch, "context_length"), NULL);
    show_num(f, "embedding length", akey(k, sizeof k, arch, "embedding_length"), NULL);
    show_num(f, "layers", akey(k, sizeof k, arch, "block_count"), NULL);
    show_num(f, "attention heads", akey(k, sizeof k, arch, "attention.head_count"), NULL);
    show_num(f, "kv heads", akey(k, sizeof k, arch, "attention.head_count_kv"), NULL);
    show_num(f, "feed-forward length", akey(k, sizeof k, arch, "feed_forward_length"), NULL);
    show_num(f, "rope dimensions", akey(k, sizeof k, arch, "rope.dimension_count"), NULL);
    show_num(f, "rope freq base", akey(k, sizeof k, arch, "rope.freq_base"), "10000 (default)");
    show_num(f, "rms norm eps", akey(k, sizeof k, arch, "attention.layer_norm_rms_epsilon"), NULL);
}

static void show_clip(const gguf_file *f)
{
    bool b;
    show_num(f, "image size", "clip.vision.image_size", NULL);
    show_num(f, "patch size", "clip.vision.patch_size", NULL);
    show_num(f, "width", "clip.vision.embedding_length", NULL);
    show_num(f, "layers", "clip.vision.block_count", NULL);
    show_num(f, "attention heads", "clip.vision.attention.head_count", NULL);
    show_num(f, "feed-forward length", "clip.vision.feed_forward_length", NULL);
    show_num(f, "layer norm eps", "clip.vision.attention.layer_norm_epsilon", NULL);
    show_str(f, "projector type", "clip.projector_type", "mlp (default)");
    if (gguf_get_bool(f, "clip.use_gelu", &b, NULL) == 0)
        printf("  %-22s %s\n", "activation", b ? "gelu" : "quick-gelu");
}

static void show_tokenizer(const gguf_file *f)
{
    struct gguf_str model;
    const struct gguf_value *tok;
    int rm = gguf_get_str(f, "tokenizer.ggml.model", &model, NULL);
    int rt = gguf_get_arr(f, "tokenizer.ggml.tokens", GGUF_VT_COUNT, &tok, NULL);
    if (rm == 1 && rt == 1)
        return;
    printf("tokenizer:     ");
    if (rm == 0)
        put_str(model, 64);
    else
        fputs("?", stdout);
    if (rt == 0)
        printf(", %" PRIu64 " tokens", tok->v.arr.n);
    putchar('\n');
}

static int inspect_text(const gguf_file *f)
{
    char size[32], count[32];
    struct gguf_str arch = {"", 0};

    human_bytes(size, sizeof size, gguf_file_size(f));
    printf("file:          %s (%" PRIu64 " bytes, %s)\n", gguf_path(f), gguf_file_size(f), size);
    printf("format:        GGUF v%" PRIu32 ", alignment %" PRIu32 ", %" PRId64 " metadata keys\n",
           gguf_version(f), gguf_alignment(f), gguf_n_kv(f));
    int ra = gguf_get_str(f, "general.architecture", &arch, NULL);
    printf("architecture:  ");
    if (ra == 0)
        put_str(arch, 64);
    else
        fputs(ra == 1 ? "(not set)" : "(not a string)", stdout);
    putchar('\n');
    struct gguf_str name;
    if (gguf_get_str(f, "general.name", &name, NULL) == 0) {
        printf("name:          ");
        put_str(name, 200);
        putchar('\n');
    }
    if (ra == 0 && gguf_str_eq(arch, "clip")) {
        printf("vision encoder:\n");
        show_clip(f);
    } else if (ra == 0 && arch.len > 0) {
        printf("language model:\n");
        show_llm(f, arch);
    }
    show_tokenizer(f);

    /* Tensor types: count, bytes and parameters per type. */
    struct { int64_t n; uint64_t bytes, params; } hist[GL_TYPE_COUNT] = {{0}};
    uint64_t params = 0, bytes = 0;
    for (int64_t i = 0; i < gguf_n_tensors(f); i++) {
        const struct gguf_tensor *t = gguf_tensor_at(f, i);
        hist[t->type].n++;
        hist[t->type].bytes += t->nbytes;
        hist[t->type].params += (uint64_t)t->nelements;
        params += (uint64_t)t->nelements;
        bytes += t->nbytes;
    }
    human_count(count, sizeof count, params);
    human_bytes(size, sizeof size, bytes);
    printf("tensors:       %" PRId64 " (%s of data)\n", gguf_n_tensors(f), size);
    if (gguf_n_tensors(f)) {
        printf("  %-8s %7s %14s %14s\n", "type", "count", "bytes", "parameters");
        for (int t = 0; t < GL_TYPE_COUNT; t++)
            if (hist[t].n)
                printf("  %-8s %7" PRId64 " %14" PRIu64 " %14" PRIu64 "\n", gl_type_name(t), hist[t].n,
                       hist[t].bytes, hist[t].params);
    }
    printf("parameters:    %" PRIu64 " (%s)\n", params, count);
    if (fflush(stdout) != 0) {
        fprintf(stderr, "glimpse: cannot write the output\n");
        return EXIT_RUNTIME;
    }
    return EXIT_OK;
}

int cli_inspect(const char *path, bool json)
{
    char *err = NULL;
    gguf_file *f = gguf_open(path, &err);
    if (!f) {
        fprintf(stderr, "glimpse: %s\n", err ? err : "out of memory");
        free(err);
        return EXIT_RUNTIME;
    }
    int rc = json ? inspect_json(f) : inspect_text(f);
    gguf_close(f);
    return rc;
}
