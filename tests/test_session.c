/*
 * test_session.c - session files (src/chat/session.c):
 *   - on the tiny models: save -> load -> restore -> save gives an equal
 *     document; a restored conversation continues token-identically to an
 *     uninterrupted one (same KV state); verification passes on a fresh
 *     session (greedy and seeded sampling) and finds the exact first token
 *     when a saved id is edited; images without embedded bytes come from
 *     their file only while its SHA-256 matches; unknown fields survive;
 *   - damaged files: truncated at many points, wrong types and ranges, huge
 *     or corrupt base64, unknown major version: a clear error naming the
 *     file (and line:column for JSON syntax), the file untouched;
 *   - crash safety: a writer killed with SIGKILL at 200 random moments
 *     always leaves the complete old or the complete new file;
 *   - export writes only inside its own folder, whatever the session says;
 *   - autosave names, the sessions directory and the listing.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "glimpse/chat.h"
#include "glimpse/session.h"
#include "glimpse/sha256.h"
#include "tap.h"

static char tmp[512];

static char *tpath(const char *name)
{
    static char buf[8][640];
    static int k;
    char *p = buf[k++ & 7];
    snprintf(p, sizeof buf[0], "%s/%s", tmp, name);
    return p;
}

static gl_model *load(const char *llm_rel, const char *mm_rel)
{
    char *llm = tap_refpath(llm_rel), *mm = mm_rel ? tap_refpath(mm_rel) : NULL;
    char *err = NULL;
    struct gl_model_params mp = gl_model_default_params();
    mp.n_threads = 2;
    gl_model *m = gl_model_load(llm, mm, &mp, &err);
    if (!m)
        tap_diag("load %s: %s", llm_rel, err);
    free(err);
    free(llm);
    free(mm);
    return m;
}

static struct gl_chat_params params(float temp, uint64_t seed, int n)
{
    struct gl_chat_params p = gl_chat_default_params();
    p.sampling.temp = temp;
    p.sampling.seed = seed;
    p.n_predict = n;
    p.n_ctx = 2048;
    return p;
}

static json_t *jload(const char *path)
{
    json_error_t je;
    json_t *j = json_load_file(path, 0, &je);
    if (!j)
        tap_diag("%s:%d:%d: %s", path, je.line, je.column, je.text);
    return j;
}

static int jsave(json_t *j, const char *path)
{
    return json_dump_file(j, path, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
}

static bool write_bytes(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return false;
    bool ok = fwrite(p, 1, n, f) == n;
    return fclose(f) == 0 && ok;
}

static bool same_ids(const struct gl_turn *a, const struct gl_turn *b)
{
    return a->n_answer_ids == b->n_answer_ids &&
           memcmp(a->answer_ids, b->answer_ids, sizeof(int32_t) * (size_t)a->n_answer_ids) == 0;
}

static int save_chat(const gl_model *m, const gl_chat *c, session *s, const char *path, bool embed)
{
    char *err = NULL;
    struct session_opts o = session_default_opts();
    o.embed_images = embed;
    bool own = !s;
    if (own)
        s = session_new(&err);
    int r = s ? session_update(s, m, c, &o, &err) : -1;
    if (r == 0)
        r = session_write(s, path, &err);
    if (r)
        tap_diag("save %s: %s", path, err);
    free(err);
    if (own)
        session_free(s);
    return r;
}

/* A new chat from the session's settings, restored. NULL on failure. */
static gl_chat *restored(gl_model *m, const session *s, char **err)
{
    struct gl_chat_params cp = gl_chat_default_params();
    session_chat_params(s, &cp);
    gl_chat *c = gl_chat_new(m, &cp, err);
    if (c && session_restore(s, c, NULL, err)) {
        gl_chat_free(c);
        return NULL;
    }
    return c;
}

/* ---------------------------------------------------------------- with the model */

static char *img_path, *img2_path;

static void test_with_model(void)
{
    gl_model *m = load("models/tiny-llava-llm-q4_0.gguf", "models/tiny-llava-mmproj-f16.gguf");
    if (!m) {
        ok(0, "the tiny q4_0 pair loads");
        return;
    }
    char *err = NULL;
    struct gl_chat_params p = params(0, 7, 12);
    gl_chat *c = gl_chat_new(m, &p, &err);
    gl_chat_add_image(c, img_path, NULL, &err);
    ok(gl_chat_ask(c, "What is in this picture?", NULL, &err) == 0, "turn 1 answered");
    ok(save_chat(m, c, NULL, tpath("one.json"), true) == 0, "a one-turn session is saved");
    ok(gl_chat_ask(c, "And what colour is it?", NULL, &err) == 0, "turn 2 answered");
    ok(save_chat(m, c, NULL, tpath("two.json"), true) == 0, "a two-turn session is saved");

    /* what the file says */
    session *s = session_load(tpath("two.json"), &err);
    ok(s != NULL, "it loads: %s", s ? "yes" : err ? err : "");
    if (!s) {
        gl_chat_free(c);
        gl_model_free(m);
        return;
    }
    struct session_info in;
    session_get_info(s, &in);
    is_int(in.n_turns, 2, "two turns");
    is_int(in.n_images, 1, "one image");
    ok(session_turn(s, 0)->n_images == 1 && session_turn(s, 1)->n_images == 0, "asked about in turn 1");
    ok(in.llm.present && in.llm.has_fingerprint && strcmp(in.llm.file, "tiny-llava-llm-q4_0.gguf") == 0,
       "the model is recorded by name and fingerprint");
    uint8_t fp[32];
    char *llm = tap_refpath("models/tiny-llava-llm-q4_0.gguf");
    ok(session_fingerprint(llm, fp, &err) == 0 && memcmp(fp, in.llm.fingerprint, 32) == 0,
       "the fingerprint is the GGUF header's SHA-256");
    free(llm);
    const struct session_image *im0 = session_image(s, 0);
    size_t ilen;
    void *ibytes = tap_slurp(img_path, &ilen);
    ok(im0 && im0->data && im0->len == ilen && memcmp(im0->data, ibytes, ilen) == 0,
       "image 0 is embedded byte for byte");
    free(ibytes);
    const struct gl_turn *g0 = gl_chat_turn(c, 0);
    const struct session_turn *t0 = session_turn(s, 0);
    ok(t0->n_answer_ids == g0->n_answer_ids && strcmp(t0->answer, g0->answer) == 0 &&
           memcmp(t0->answer_ids, g0->answer_ids, sizeof(int32_t) * (size_t)g0->n_answer_ids) == 0,
       "turn 1's text and ids are recorded");
    ok(t0->token_ms && t0->n_answer_ids > 0 && t0->token_ms[t0->n_answer_ids - 1] >= t0->token_ms[0],
       "with the arrival time of each token");
    ok(t0->piece_ends && t0->piece_ends[t0->n_answer_ids - 1] == (int)strlen(t0->answer),
       "and where each token's text ends in the answer");
    ok(t0->started > 1e9 && t0->seed == g0->seed && t0->stop == g0->stop, "start time, seed and stop recorded");

    /* round trip: load -> restore -> save into the loaded document: equal */
    gl_chat *c2 = restored(m, s, &err);
    ok(c2 != NULL, "the session restores into a new conversation: %s", c2 ? "yes" : err);
    if (c2) {
        ok(save_chat(m, c2, s, tpath("two-again.json"), true) == 0, "and is saved again");
        json_t *a = jload(tpath("two.json")), *b = jload(tpath("two-again.json"));
        ok(a && b && json_equal(a, b), "save -> load -> save gives an equal document");
        ok(save_chat(m, c2, NULL, tpath("two-fresh.json"), true) == 0, "a fresh save of the restored chat");
        json_t *f = jload(tpath("two-fresh.json"));
        if (a && f) {
            json_object_del(a, "created");
            json_object_del(a, "updated");
            json_object_del(f, "created");
            json_object_del(f, "updated");
        }
        ok(a && f && json_equal(a, f), "...equals the original but for its times");
        json_decref(a);
        json_decref(b);
        json_decref(f);

        /* resume: the next answer is the one the uninterrupted chat gives */
        ok(gl_chat_ask(c, "Is there anything else?", NULL, &err) == 0, "the original chat goes on");
        ok(gl_chat_ask(c2, "Is there anything else?", NULL, &err) == 0, "the restored chat goes on");
        const struct gl_turn *x = gl_chat_turn(c, 2), *y = gl_chat_turn(c2, 2);
        ok(x && y && same_ids(x, y) && x->n_answer_ids > 0,
           "the restored chat's next answer is token-identical (%d tokens)", x ? x->n_answer_ids : 0);
        struct gl_context_use u1, u2;
        gl_chat_context(c, &u1);
        gl_chat_context(c2, &u2);
        ok(u1.used == u2.used && u1.images == u2.images, "and the context holds the same positions (%d, %d)",
           u1.used, u2.used);
        gl_chat_free(c2);
    }

    /* images waiting for the next question, one of them a repeat */
    gl_chat_add_image(c, img2_path, NULL, &err);
    gl_chat_add_image(c, img_path, NULL, &err);
    ok(save_chat(m, c, NULL, tpath("pending.json"), true) == 0, "a session with images attached is saved");
    session *sp = session_load(tpath("pending.json"), &err);
    struct session_info pin = {0};
    if (sp)
        session_get_info(sp, &pin);
    ok(pin.n_images == 2 && pin.n_pending == 2 && pin.pending[0] == 1 && pin.pending[1] == 0,
       "the repeated image is stored once; both wait for the next question");
    c2 = sp ? restored(m, sp, &err) : NULL;
    ok(c2 && gl_chat_n_pending_images(c2) == 2, "they are attached again on restore");
    if (c2) {
        save_chat(m, c2, sp, tpath("pending-again.json"), true);
        json_t *a = jload(tpath("pending.json")), *b = jload(tpath("pending-again.json"));
        ok(a && b && json_equal(a, b), "...and saved again equal");
        json_decref(a);
        json_decref(b);
        gl_chat_free(c2);
    }
    session_free(sp);

    /* verify: a just-saved session passes, turn by turn */
    struct gl_chat_params cp = gl_chat_default_params();
    session_chat_params(s, &cp);
    gl_chat *v = gl_chat_new(m, &cp, &err);
    int identical = 0;
    for (int k = 0; k < in.n_turns; k++) {
        struct session_diff d;
        if (session_verify_turn(s, k, m, v, NULL, &d, &err) == 0 && d.identical)
            identical++;
        session_diff_free(&d);
    }
    is_int(identical, 2, "both turns verify as identical");
    gl_chat_free(v);

    /* an edited token id is found exactly */
    json_t *doc = jload(tpath("two.json"));
    json_t *ids = json_object_get(json_array_get(json_object_get(doc, "turns"), 1), "answer_ids");
    size_t n_ids = json_array_size(ids);
    int at = n_ids > 3 ? 3 : (int)n_ids - 1;
    int32_t was = (int32_t)json_integer_value(json_array_get(ids, (size_t)at));
    int32_t edited = was == 500 ? 501 : 500;
    json_array_set_new(ids, (size_t)at, json_integer(edited));
    jsave(doc, tpath("edited.json"));
    json_decref(doc);
    session *se = session_load(tpath("edited.json"), &err);
    v = gl_chat_new(m, &cp, &err);
    struct session_diff d0 = {0}, d1 = {0};
    int r0 = se ? session_verify_turn(se, 0, m, v, NULL, &d0, &err) : -1;
    int r1 = se ? session_verify_turn(se, 1, m, v, NULL, &d1, &err) : -1;
    ok(r0 == 0 && d0.identical, "edited session: turn 1 still identical");
    ok(r1 == 0 && !d1.identical && d1.index == at && d1.expected == edited && d1.got == was,
       "turn 2 differs at token %d: expected %d, got %d (report: %d, %d, %d)", at, edited, was, d1.index,
       d1.expected, d1.got);
    ok(d1.expected_piece && d1.got_piece && d1.before && d1.got_after && strlen(d1.got_after) > 0,
       "with the pieces and the text around it: before \"%s\", expected \"%s\", got \"%s\"",
       d1.before ? d1.before : "", d1.expected_after ? d1.expected_after : "", d1.got_after ? d1.got_after : "");
    ok(gl_chat_n_turns(v) == 2 && same_ids(gl_chat_turn(v, 1), gl_chat_turn(v, 1)) &&
           gl_chat_turn(v, 1)->answer_ids[at] == edited,
       "after a difference the chat holds the recorded turn");
    session_diff_free(&d0);
    session_diff_free(&d1);
    gl_chat_free(v);
    session_free(se);

    /* seeded sampling verifies too: the seed and settings are recorded */
    struct gl_chat_params ps = params(0.9f, 1234, 10);
    ps.sampling.top_k = 0;
    ps.sampling.min_p = 0;
    gl_chat *hot = gl_chat_new(m, &ps, &err);
    gl_chat_ask(hot, "Tell me a story.", NULL, &err);
    gl_chat_ask(hot, "Another one.", NULL, &err);
    save_chat(m, hot, NULL, tpath("hot.json"), true);
    session *sh = session_load(tpath("hot.json"), &err);
    identical = 0;
    if (sh) {
        session_chat_params(sh, &cp);
        v = gl_chat_new(m, &cp, &err);
        for (int k = 0; k < 2; k++) {
            struct session_diff d;
            if (session_verify_turn(sh, k, m, v, NULL, &d, &err) == 0 && d.identical)
                identical++;
            session_diff_free(&d);
        }
        gl_chat_free(v);
    }
    is_int(identical, 2, "temperature 0.9 with a seed: both turns verify");
    session_free(sh);
    gl_chat_free(hot);

    /* without embedded bytes: the original file, only while it is unchanged */
    char copy[640];
    snprintf(copy, sizeof copy, "%s/copy.png", tmp);
    void *bytes = tap_slurp(img_path, &ilen);
    write_bytes(copy, bytes, ilen);
    gl_chat *c3 = gl_chat_new(m, &p, &err);
    gl_chat_add_image(c3, copy, NULL, &err);
    gl_chat_ask(c3, "caf\xe9?", NULL, &err);  /* typed on a Latin-1 terminal */
    ok(save_chat(m, c3, NULL, tpath("noembed.json"), false) == 0, "a session without image bytes is saved");
    gl_chat_free(c3);
    session *sn = session_load(tpath("noembed.json"), &err);
    ok(sn && strcmp(session_turn(sn, 0)->user, "caf\xEF\xBF\xBD?") == 0,
       "a question that is not UTF-8 is saved with U+FFFD for the bad byte");
    ok(sn && session_image(sn, 0) && !session_image(sn, 0)->data, "...and holds no image data");
    c3 = sn ? restored(m, sn, &err) : NULL;
    ok(c3 != NULL, "it restores from the original file while that is unchanged: %s", c3 ? "yes" : err);
    gl_chat_free(c3);
    free(err);
    err = NULL;
    ((uint8_t *)bytes)[ilen / 2] ^= 1;
    write_bytes(copy, bytes, ilen);
    c3 = sn ? restored(m, sn, &err) : NULL;
    ok(!c3 && err && strstr(err, "image 0") && strstr(err, "changed"), "a changed file is refused: %s",
       err ? err : "");
    gl_chat_free(c3);
    free(err);
    err = NULL;
    unlink(copy);
    c3 = sn ? restored(m, sn, &err) : NULL;
    ok(!c3 && err && strstr(err, "cannot be read"), "a missing file is refused: %s", err ? err : "");
    gl_chat_free(c3);
    free(err);
    err = NULL;
    free(bytes);
    session_free(sn);

    /* fields a newer glimpse wrote are kept when rewriting */
    doc = jload(tpath("two.json"));
    json_object_set_new(doc, "future", json_pack("{s:i}", "x", 1));
    json_object_set_new(json_array_get(json_object_get(doc, "turns"), 0), "mood", json_string("calm"));
    json_object_set_new(json_array_get(json_object_get(doc, "images"), 0), "caption", json_string("a cat"));
    json_object_set_new(json_object_get(doc, "sampling"), "mirostat", json_integer(2));
    json_object_set_new(doc, "version", json_string("1.7"));
    jsave(doc, tpath("future.json"));
    json_decref(doc);
    session *sf = session_load(tpath("future.json"), &err);
    ok(sf != NULL, "a 1.7 session with unknown fields loads: %s", sf ? "yes" : err);
    if (sf) {
        ok(save_chat(m, c, sf, tpath("future-out.json"), true) == 0, "and is updated from a chat");
        json_t *o = jload(tpath("future-out.json"));
        ok(o && json_integer_value(json_object_get(json_object_get(o, "future"), "x")) == 1 &&
               strcmp(json_string_value(json_object_get(json_array_get(json_object_get(o, "turns"), 0), "mood")),
                      "calm") == 0 &&
               json_string_value(json_object_get(json_array_get(json_object_get(o, "images"), 0), "caption")) &&
               json_integer_value(json_object_get(json_object_get(o, "sampling"), "mirostat")) == 2,
           "unknown fields at every level survive");
        ok(o && strcmp(json_string_value(json_object_get(o, "version")), "1.7") == 0 &&
               json_array_size(json_object_get(o, "turns")) == 3,
           "the minor version is kept and the new turn added");
        json_decref(o);
        session_free(sf);
    }
    free(err);
    session_free(s);
    gl_chat_free(c);
    gl_model_free(m);
}

/* ---------------------------------------------------------------- damaged files */

static bool unchanged(const char *path, const void *bytes, size_t n, const struct stat *before)
{
    struct stat st;
    size_t len;
    void *now = tap_slurp(path, &len);
    bool same = now && len == n && memcmp(now, bytes, n) == 0 && stat(path, &st) == 0 &&
                st.st_mtim.tv_sec == before->st_mtim.tv_sec && st.st_mtim.tv_nsec == before->st_mtim.tv_nsec;
    free(now);
    return same;
}

/* Load a file that must fail; the message must contain each of the needles
 * and the file must be as it was. */
static bool refused(const char *path, const char *n1, const char *n2, char **msg)
{
    size_t len;
    void *bytes = tap_slurp(path, &len);
    struct stat st;
    stat(path, &st);
    char *err = NULL;
    session *s = session_load(path, &err);
    bool good = !s && err && strncmp(err, path, strlen(path)) == 0 && (!n1 || strstr(err, n1)) &&
                (!n2 || strstr(err, n2)) && unchanged(path, bytes, len, &st);
    session_free(s);
    free(bytes);
    *msg = err;
    return good;
}

struct mutation {
    const char *what;
    const char *needle1, *needle2;
    void (*apply)(json_t *doc);
};

static json_t *turn0(json_t *d)
{
    return json_array_get(json_object_get(d, "turns"), 0);
}
static json_t *image0(json_t *d)
{
    return json_array_get(json_object_get(d, "images"), 0);
}
static void m_format(json_t *d) { json_object_set_new(d, "format", json_integer(5)); }
static void m_no_format(json_t *d) { json_object_del(d, "format"); }
static void m_major(json_t *d) { json_object_set_new(d, "version", json_string("2.0")); }
static void m_version_type(json_t *d) { json_object_set_new(d, "version", json_integer(1)); }
static void m_turns_obj(json_t *d) { json_object_set_new(d, "turns", json_object()); }
static void m_user(json_t *d) { json_object_set_new(turn0(d), "user", json_integer(3)); }
static void m_id_str(json_t *d) { json_array_set_new(json_object_get(turn0(d), "answer_ids"), 2, json_string("x")); }
static void m_id_neg(json_t *d) { json_array_set_new(json_object_get(turn0(d), "answer_ids"), 2, json_integer(-5)); }
static void m_img_ref(json_t *d) { json_object_set_new(turn0(d), "images", json_pack("[i]", 7)); }
static void m_token_ms(json_t *d) { json_array_remove(json_object_get(turn0(d), "token_ms"), 0); }
static void m_stop(json_t *d) { json_object_set_new(turn0(d), "stop", json_string("exploded")); }
static void m_started(json_t *d) { json_object_set_new(turn0(d), "started", json_string("yesterday")); }
static void m_sha(json_t *d) { json_object_set_new(image0(d), "sha256", json_string("abc")); }
static void m_b64(json_t *d) { json_object_set_new(image0(d), "data", json_string("!!!!")); }
static void m_width(json_t *d) { json_object_set_new(image0(d), "width", json_string("wide")); }
static void m_temp(json_t *d) { json_object_set_new(json_object_get(d, "sampling"), "temp", json_string("hot")); }
static void m_top_p(json_t *d) { json_object_set_new(json_object_get(d, "sampling"), "top_p", json_integer(7)); }
static void m_model(json_t *d) { json_object_set_new(d, "model", json_array()); }
static void m_pending(json_t *d) { json_object_set_new(d, "pending", json_pack("[i]", 99)); }
static void m_seed(json_t *d) { json_object_set_new(turn0(d), "seed", json_string("-1")); }
static void m_ends(json_t *d)
{
    json_t *e = json_object_get(turn0(d), "piece_ends");
    json_array_set_new(e, 1, json_integer(json_integer_value(json_array_get(e, 0)) - 1));
}
static void m_size(json_t *d) { json_object_set_new(image0(d), "size", json_integer(3)); }
static void m_data_other(json_t *d)
{
    /* valid base64 of other bytes: caught by the hash */
    json_object_set_new(image0(d), "data", json_string("aGVsbG8gd29ybGQ="));
    json_object_del(image0(d), "size");
}
static void m_data_noncanon(json_t *d)
{
    json_object_set_new(image0(d), "data", json_string("aGVsbG9="));
    json_object_del(image0(d), "size");
}

static void test_damaged(void)
{
    char *err = NULL;
    size_t len;
    char *text = tap_slurp(tpath("two.json"), &len);
    if (!text) {
        tap_skip(1, "no saved session to damage");
        return;
    }
    /* truncated at many points: always refused with line and column */
    const char *tr = tpath("truncated.json");
    size_t last = len;
    while (last > 0 && text[last - 1] != '}')
        last--;
    int cuts = 0, good = 0;
    char *first_bad = NULL;
    for (size_t cut = 0; cut < last - 1; cut += (last / 150) + 1, cuts++) {
        write_bytes(tr, text, cut);
        char *msg = NULL;
        int line, col;
        bool r = refused(tr, NULL, NULL, &msg);
        if (r && msg && sscanf(msg + strlen(tr), ":%d:%d:", &line, &col) == 2 && line >= 1)
            good++;
        else if (!first_bad)
        {
            char buf[512];
            snprintf(buf, sizeof buf, "cut at %zu: %s", cut, msg ? msg : "(loaded!)");
            first_bad = strdup(buf);
        }
        free(msg);
    }
    ok(good == cuts, "truncated at %d points: every one refused with file:line:col, file untouched%s%s", cuts,
       first_bad ? ": " : "", first_bad ? first_bad : "");
    free(first_bad);
    {
        char *msg = NULL;
        write_bytes(tr, text, last - 40);
        refused(tr, NULL, NULL, &msg);
        tap_diag("e.g. %s", msg ? msg : "(none)");
        free(msg);
    }

    static const struct mutation muts[] = {
        {"format of the wrong type", "format", NULL, m_format},
        {"no format", "not a glimpse session", NULL, m_no_format},
        {"unknown major version", "2.0", "upgrade glimpse", m_major},
        {"version not a string", "version", NULL, m_version_type},
        {"turns not an array", "turns", "array", m_turns_obj},
        {"question not a string", "turns[0]", "user", m_user},
        {"token id a string", "turns[0].answer_ids[2]", "token id", m_id_str},
        {"token id negative", "turns[0].answer_ids[2]", "token id", m_id_neg},
        {"image id out of range", "turns[0].images", "image", m_img_ref},
        {"token times short", "turns[0]", "token_ms", m_token_ms},
        {"unknown stop", "turns[0]", "stop", m_stop},
        {"bad start time", "turns[0]", "started", m_started},
        {"bad hash", "images[0]", "sha256", m_sha},
        {"bad base64", "images[0]", "base64", m_b64},
        {"non-canonical base64", "images[0]", "base64", m_data_noncanon},
        {"other bytes than hashed", "images[0]", "SHA-256", m_data_other},
        {"size not matching", "images[0]", "size", m_size},
        {"width a string", "images[0]", "width", m_width},
        {"temp a string", "sampling", "temp", m_temp},
        {"top_p out of range", "sampling", "top_p", m_top_p},
        {"model an array", "model", "object", m_model},
        {"pending image out of range", "pending", "image", m_pending},
        {"seed negative", "turns[0]", "seed", m_seed},
        {"piece ends going back", "turns[0]", "piece_ends", m_ends},
    };
    json_t *orig = json_loads(text, 0, NULL);
    for (size_t i = 0; i < sizeof muts / sizeof *muts; i++) {
        json_t *d = json_deep_copy(orig);
        muts[i].apply(d);
        const char *path = tpath("mutated.json");
        jsave(d, path);
        json_decref(d);
        char *msg = NULL;
        bool r = refused(path, muts[i].needle1, muts[i].needle2, &msg);
        ok(r, "%s: %s", muts[i].what, msg ? msg : "(loaded!)");
        free(msg);
    }
    /* the root itself */
    const char *path = tpath("array.json");
    write_bytes(path, "[1, 2]\n", 7);
    char *msg = NULL;
    bool r = refused(path, "not a glimpse session", NULL, &msg);
    ok(r, "a JSON array: %s", msg ? msg : "");
    free(msg);
    write_bytes(path, "{\"format\": \"glimpse-session\", \"format\": 1}", 42);
    r = refused(path, "duplicate", NULL, &msg);
    ok(r, "a duplicate key: %s", msg ? msg : "");
    free(msg);

    /* huge base64: refused by its length, before decoding (the file is
     * written directly: the text around a 90 MB data string) */
    json_t *d;
    path = tpath("huge.json");
    char *dpos = strstr(text, "\"data\": \"");
    char *dend = dpos ? strchr(dpos + 9, '"') : NULL;
    FILE *hf = fopen(path, "wb");
    if (hf && dend) {
        size_t huge = (size_t)(SESSION_MAX_IMAGE_BYTES / 3 + 1) * 4 + 4;
        static char chunk[1 << 16];
        memset(chunk, 'A', sizeof chunk);
        fwrite(text, 1, (size_t)(dpos - text) + 9, hf);
        for (size_t w = 0; w < huge; w += sizeof chunk)
            fwrite(chunk, 1, huge - w < sizeof chunk ? huge - w : sizeof chunk, hf);
        fwrite(dend, 1, strlen(dend), hf);
    }
    if (hf)
        fclose(hf);
    r = refused(path, "images[0]", "MiB", &msg);
    ok(r, "a 90 MB base64 string: %s", msg ? msg : "");
    free(msg);
    unlink(path);

    /* missing image data: the session loads; restoring it needs the file */
    d = json_deep_copy(orig);
    json_object_del(image0(d), "data");
    json_object_del(image0(d), "size");
    json_object_set_new(image0(d), "path", json_string("/nonexistent/cat.png"));
    path = tpath("nodata.json");
    jsave(d, path);
    json_decref(d);
    session *s = session_load(path, &err);
    ok(s && !session_image(s, 0)->data, "an image without data loads (path and hash only)");
    session_free(s);
    free(err);
    json_decref(orig);
    free(text);
}

/* ---------------------------------------------------------------- crash safety */

static void test_crash(void)
{
    char *err = NULL;
    session *a = session_load(tpath("one.json"), &err), *b = session_load(tpath("two.json"), &err);
    if (!a || !b) {
        tap_skip(2, "no sessions to write: %s", err ? err : "");
        free(err);
        session_free(a);
        session_free(b);
        return;
    }
    size_t la, lb;
    char *ta = session_dump(a, &la, &err), *tb = session_dump(b, &lb, &err);
    char path[640];
    snprintf(path, sizeof path, "%s", tpath("crash.json"));
    session_write(a, path, &err);
    srand((unsigned)time(NULL));
    int kills = 200, whole = 0, newer = 0;
    double t0 = (double)clock();
    for (int i = 0; i < kills; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            for (int k = 0;; k++)
                session_write(k & 1 ? a : b, path, NULL);
        }
        usleep((useconds_t)(rand() % 12000));
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        size_t n;
        char *now = tap_slurp(path, &n);
        session *s = session_load(path, NULL);
        bool is_a = now && n == la && memcmp(now, ta, la) == 0;
        bool is_b = now && n == lb && memcmp(now, tb, lb) == 0;
        whole += s && (is_a || is_b);
        newer += is_b;
        session_free(s);
        free(now);
    }
    (void)t0;
    is_int(whole, kills, "killed with SIGKILL at %d random moments: the file is always complete (old or new)",
           kills);
    ok(newer > 0 && newer < kills, "both versions were seen (%d new of %d)", newer, kills);
    /* temp files of killed writers stay behind, hidden, until they are an
     * hour old: age all but one, and the next write sweeps them */
    DIR *dir = opendir(tmp);
    struct dirent *de;
    int litter = 0;
    char keep[256] = "";
    while (dir && (de = readdir(dir)))
        if (strncmp(de->d_name, ".crash.json.tmp.", 16) == 0) {
            litter++;
            if (!keep[0]) {
                snprintf(keep, sizeof keep, "%s", de->d_name);
            } else {
                struct timespec old[2] = {{time(NULL) - 7200, 0}, {time(NULL) - 7200, 0}};
                utimensat(AT_FDCWD, tpath(de->d_name), old, 0);
            }
        }
    if (dir)
        closedir(dir);
    session_write(a, path, &err);
    int left = 0;
    bool kept = false;
    dir = opendir(tmp);
    while (dir && (de = readdir(dir)))
        if (strncmp(de->d_name, ".crash.json.tmp.", 16) == 0) {
            left++;
            kept |= strcmp(de->d_name, keep) == 0;
            unlink(tpath(de->d_name));
        }
    if (dir)
        closedir(dir);
    ok(litter > 0 ? left == 1 && kept : left == 0,
       "the next write removes temp files over an hour old and keeps newer ones (%d left of %d)", left, litter);
    free(ta);
    free(tb);
    session_free(a);
    session_free(b);
}

/* ---------------------------------------------------------------- export */

static int count_files(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *de;
    while (d && (de = readdir(d)))
        n += de->d_name[0] != '.';
    if (d)
        closedir(d);
    return n;
}

static void test_export(void)
{
    char *err = NULL;
    json_t *doc = jload(tpath("two.json"));
    if (!doc) {
        tap_skip(1, "no session to export");
        return;
    }
    /* a hostile session: paths that climb out, Markdown that breaks out */
    json_object_set_new(image0(doc), "path", json_string("../../etc/x](javascript:alert(1)).png"));
    const char *hp = tpath("hostile.json");
    jsave(doc, hp);
    json_decref(doc);
    char exp_dir[640];
    snprintf(exp_dir, sizeof exp_dir, "%s/exp/deep", tmp);
    mkdir(tpath("exp"), 0755);
    mkdir(exp_dir, 0755);
    int before = count_files(tpath("exp"));
    char out[700];
    snprintf(out, sizeof out, "%s/talk.md", exp_dir);
    session *s = session_load(hp, &err);
    int missing = -1;
    bool r = s && session_export(s, out, &missing, &err) == 0 && missing == 0;
    ok(r, "Markdown export: %s", err ? err : "written");
    is_int(count_files(exp_dir), 2, "it holds talk.md and talk-images/ only");
    is_int(count_files(tpath("exp")), before, "nothing appeared beside the output folder");
    struct stat st;
    ok(stat(tpath("etc"), &st) != 0 && stat(tpath("exp/etc"), &st) != 0, "no ../../etc/x anywhere");
    char img0[760];
    snprintf(img0, sizeof img0, "%s/talk-images/0.png", exp_dir);
    size_t n0, ni;
    void *b0 = tap_slurp(img0, &n0), *bi = tap_slurp(img_path, &ni);
    ok(b0 && bi && n0 == ni && memcmp(b0, bi, ni) == 0, "image 0 written byte for byte as 0.png");
    free(b0);
    free(bi);
    size_t nm;
    char *md = tap_slurp(out, &nm);
    ok(md && strstr(md, "(<talk-images/0.png>)") && strstr(md, "What is in this picture?") &&
           strstr(md, session_turn(s, 0)->answer),
       "the Markdown links the image and holds the questions and answers");
    ok(md && !strstr(md, "](javascript"), "an image name cannot inject a link");
    free(md);

    snprintf(out, sizeof out, "%s/talk.json", exp_dir);
    r = s && session_export(s, out, NULL, &err) == 0;
    ok(r, "JSON export: %s", err ? err : "written");
    json_t *j = jload(out);
    json_t *t1 = json_array_get(json_object_get(j, "turns"), 1);
    json_t *t0 = json_array_get(json_object_get(j, "turns"), 0);
    ok(j && json_array_size(json_object_get(j, "turns")) == 2 &&
           strcmp(json_string_value(json_object_get(t1, "user")), "And what colour is it?") == 0 &&
           json_array_size(json_object_get(t1, "images")) == 0 &&
           strcmp(json_string_value(json_object_get(json_array_get(json_object_get(t0, "images"), 0), "file")),
                  "talk-images/0.png") == 0,
       "the JSON transcript has the turns and their image files");
    json_decref(j);

    /* a planted symlink for the images folder is not followed */
    snprintf(out, sizeof out, "%s/sym.md", exp_dir);
    char link[700];
    snprintf(link, sizeof link, "%s/sym-images", exp_dir);
    symlink(tmp, link);
    free(err);
    err = NULL;
    r = s && session_export(s, out, NULL, &err) == -1 && err && strstr(err, "not a directory");
    ok(r, "an images folder that is a symlink is refused: %s", err ? err : "");
    ok(s && session_export(s, tpath("x.txt"), NULL, &err) == -1, "only .md and .json are exported");
    free(err);
    session_free(s);
}

/* ---------------------------------------------------------------- names, dirs, list */

static void test_names(void)
{
    char slug[48];
    session_slug("What is in this picture?", slug, sizeof slug);
    is_str(slug, "what-is-in-this-picture", "slug of a question");
    session_slug("  Ünïcode & émoji 🐱 only?? ", slug, sizeof slug);
    is_str(slug, "n-code-moji-only", "non-ASCII letters become separators");
    session_slug("!!!", slug, sizeof slug);
    is_str(slug, "session", "nothing left: \"session\"");
    session_slug("a very long question that goes on and on about the picture and more", slug, 32);
    ok(strlen(slug) < 32 && slug[strlen(slug) - 1] != '-', "long questions are cut at a word: %s", slug);

    char t[32];
    double v = 0;
    session_time_format(1795741323.456, true, t);
    is_str(t, "2026-11-27T01:02:03.456Z", "time with milliseconds");
    ok(session_time_parse(t, &v) == 0 && v > 1795741323.455 && v < 1795741323.457, "and back");
    ok(session_time_parse("2026-11-27T04:02:03+03:00", &v) == 0 && (long)v == 1795741323, "an offset");
    ok(session_time_parse("2026-13-01T00:00:00Z", &v) == -1 && session_time_parse("2026-11-27", &v) == -1,
       "bad times are refused");

    char *err = NULL;
    setenv("XDG_STATE_HOME", tpath("state"), 1);
    char *dir = session_dir(&err);
    char want[700];
    snprintf(want, sizeof want, "%s/glimpse/sessions", tpath("state"));
    is_str(dir, want, "sessions live under $XDG_STATE_HOME/glimpse/sessions");
    ok(session_mkdirs(dir, &err) == 0, "the directory is created");
    time_t when = 1795741323;
    char *p1 = session_autosave_path(dir, "What is in this picture?", when);
    struct tm tm;
    localtime_r(&when, &tm);
    char stamp[32];
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H-%M-%S", &tm);
    snprintf(want, sizeof want, "%s/%s-what-is-in-this-picture.json", dir, stamp);
    is_str(p1, want, "autosave name: local date-time and slug");

    /* two sessions, a damaged file and a temp file: two listed, newest first */
    json_t *a = jload(tpath("one.json")), *b = jload(tpath("two.json"));
    if (a && b && p1) {
        json_object_set_new(a, "updated", json_string("2026-01-01T00:00:00Z"));
        json_object_set_new(b, "updated", json_string("2026-06-01T00:00:00Z"));
        jsave(a, p1);
        char *p2 = session_autosave_path(dir, "What is in this picture?", when);
        ok(p2 && strstr(p2, "-picture-2.json"), "an existing name gets -2: %s", p2 ? p2 : "");
        jsave(b, p2);
        char junk[760];
        snprintf(junk, sizeof junk, "%s/broken.json", dir);
        write_bytes(junk, "{\"format\": ", 11);
        snprintf(junk, sizeof junk, "%s/.x.json.tmp.1.2", dir);
        write_bytes(junk, "{}", 2);
        struct session_entry *e = NULL;
        size_t n = 0;
        int lr = session_list(dir, &e, &n, &err);
        ok(lr == 0 && n == 2, "two sessions listed (%zu)", n);
        ok(n == 2 && strcmp(e[0].path, p2) == 0 && e[0].n_turns == 2 && e[1].n_turns == 1 &&
               e[0].n_images == 1 && strcmp(e[1].first_question, "What is in this picture?") == 0,
           "newest first, with turns, images and the first question");
        session_list_free(e, n);
        free(p2);
    }
    json_decref(a);
    json_decref(b);
    struct session_entry *e = NULL;
    size_t n = 9;
    ok(session_list(tpath("nowhere"), &e, &n, &err) == 0 && n == 0, "a missing directory is an empty list");
    free(p1);
    free(dir);
    free(err);
}

int main(void)
{
    if (!tap_refdata())
        tap_skip_all("GLIMPSE_REFDATA not found: reference models absent");
    snprintf(tmp, sizeof tmp, "%s/test_session.%ld", tap_tmpdir(), (long)getpid());
    mkdir(tmp, 0755);
    img_path = tap_refpath("images/gradient_shapes_640x480.png");
    img2_path = tap_refpath("images/portrait_300x500.jpg");
    test_with_model();
    test_damaged();
    test_crash();
    test_export();
    test_names();
    free(img_path);
    free(img2_path);
    if (!tap_failed()) {
        /* keep the files of a failed run for a look */
        char cmd[600];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
        if (system(cmd) != 0)
            tap_diag("could not remove %s", tmp);
    }
    return tap_done();
}
