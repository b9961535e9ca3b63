/*
 * jobs.c - the UI's own requests, run on the worker thread through
 * gl_worker_with_chat(): reading the model's name and an image's pixels for
 * the pane, and the session document (save, autosave, export, load). Each
 * job has its data (filled on the worker thread, read on the UI thread after
 * its last event: the worker's queue orders the two) and a done callback
 * that applies it to the screen.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "glimpse/image.h"
#include "glimpse/session.h"
#include "ui/app.h"
#include "ui/screen.h"
#include "util.h"

void app_image_free(struct tui_image *im)
{
    free(im->name);
    free(im->rgb);
    free(im->view);
    memset(im, 0, sizeof *im);
}

/* ------------------------------------------------------------ model info and pixels */

struct info_data {
    char *name, *type;
    int image_rows;
    int n_pending;
};

static void info_free(void *p)
{
    struct info_data *d = p;
    if (d) {
        free(d->name);
        free(d->type);
        free(d);
    }
}

static int info_fn(void *user, gl_model *m, gl_chat *c, const struct gl_callbacks *cb, char **err)
{
    struct info_data *d = user;
    (void)cb;
    if (!m || !c)
        return err ? gl_err(err, "no model loaded") : -1;
    struct gl_model_info mi;
    gl_model_get_info(m, &mi);
    d->name = strdup(mi.name ? mi.name : app_base_name(mi.llm_path));
    d->type = mi.llm_type ? strdup(mi.llm_type) : NULL;
    d->image_rows = mi.image_rows;
    d->n_pending = gl_chat_n_pending_images(c);
    return 0;
}

/* Post a worker-side request whose data the record frees once its last
 * event came. Returns the record or NULL (the data is freed if the worker
 * never took it; if only the record failed, the worker still holds the data
 * and it is left to it rather than freed under its feet). */
static struct req *post_fn(struct tui *t, enum req_kind kind, gl_worker_fn fn, void *data,
                           void (*free_data)(void *), void (*on_done)(struct tui *, struct req *))
{
    uint64_t seq = gl_worker_with_chat(t->w, fn, data);
    if (seq == 0) {
        free_data(data);
        app_note(t, TR_ERROR, "out of memory: the request was not sent");
        return NULL;
    }
    struct req *r = app_post(t, kind, seq, NULL);
    if (r) {
        r->data = data;
        r->free_data = free_data;
        r->on_done = on_done;
    }
    return r;
}

static void info_done(struct tui *t, struct req *r)
{
    struct info_data *d = r->data;
    if (d->name) {
        free(t->model_name);
        t->model_name = d->name;
        d->name = NULL;
    }
    if (d->type) {
        free(t->model_type);
        t->model_type = d->type;
        d->type = NULL;
    }
    t->image_rows = d->image_rows;
    t->pending_images = d->n_pending;
}

void app_refresh_info(struct tui *t)
{
    struct info_data *d = calloc(1, sizeof *d);
    if (d)
        post_fn(t, REQ_INFO, info_fn, d, info_free, info_done);
}

struct pixels_data {
    char *path;                 /* the image as attached */
    bool no_exif;
    struct tui_image img;
};

static void pixels_free(void *p)
{
    struct pixels_data *d = p;
    if (d) {
        free(d->path);
        app_image_free(&d->img);
        free(d);
    }
}

/* The pane's pixels for the newest image attached from d->path: the
 * decoded original and the model's view. */
static int pixels_fn(void *user, gl_model *m, gl_chat *c, const struct gl_callbacks *cb, char **err)
{
    struct pixels_data *d = user;
    (void)m;
    (void)cb;
    if (!c)
        return err ? gl_err(err, "no model loaded") : -1;
    int idx = -1;
    for (int i = gl_chat_n_images(c) - 1; i >= 0 && idx < 0; i--) {
        const struct gl_image_info *ii = gl_chat_image(c, i);
        if (ii && ii->path && strcmp(ii->path, d->path) == 0)
            idx = i;
    }
    if (idx < 0)
        return gl_err(err, "%s is not attached", d->path);
    const struct gl_image_info *ii = gl_chat_image(c, idx);
    d->img.name = strdup(app_base_name(d->path));
    d->img.width = ii->width;
    d->img.height = ii->height;
    struct gl_image_opts io = {.no_exif = d->no_exif};
    struct gl_image im = {0};
    char *e = NULL;
    if (gl_image_load(d->path, &io, &im, &e) == 0) {
        d->img.rgb = im.rgb;
        d->img.width = im.w;
        d->img.height = im.h;
    }
    free(e);
    e = NULL;
    if (gl_chat_model_view(c, idx, &d->img.view, &d->img.view_size, &e))
        d->img.view = NULL;
    free(e);
    return 0;
}

static void pixels_done(struct tui *t, struct req *r)
{
    struct pixels_data *d = r->data;
    app_image_free(&t->img);
    t->img = d->img;
    memset(&d->img, 0, sizeof d->img);
    t->have_img = true;
    screen_image_changed(t);
}

void app_request_pixels(struct tui *t, const char *path)
{
    struct pixels_data *d = calloc(1, sizeof *d);
    if (!d || !(d->path = strdup(path))) {
        free(d);
        return;
    }
    d->no_exif = t->o->no_exif;
    post_fn(t, REQ_PIXELS, pixels_fn, d, pixels_free, pixels_done);
}

/* Saving, restoring and exporting use the session document, which only
 * the worker thread touches. */
struct doc_data {
    struct tui *t;              /* for t->doc only */
    char *path;                 /* in: NULL = the document's own or a new autosave file */
    bool reset;                 /* in: start a new document (the conversation was cleared) */
    session *loaded;            /* in (restore): the session to put back */
    char *saved;                /* out: where it went */
    char *warning;              /* out */
    int n_missing;              /* out (export) */
    bool partial;               /* out (restore): the cache is rebuilt later */
    /* out (restore): the conversation as restored */
    int n_turns;
    char **users, **answers;
    enum gl_stop *stops;
    char *last_image;
};

static void doc_free(void *p)
{
    struct doc_data *d = p;
    if (!d)
        return;
    free(d->path);
    free(d->saved);
    free(d->warning);
    session_free(d->loaded);
    for (int i = 0; i < d->n_turns; i++) {
        free(d->users[i]);
        free(d->answers[i]);
    }
    free(d->users);
    free(d->answers);
    free(d->stops);
    free(d->last_image);
    free(d);
}

static int doc_ready(struct doc_data *d, char **err)
{
    if (d->reset || !d->t->doc) {
        session_free(d->t->doc);
        d->t->doc = session_new(err);
        if (!d->t->doc)
            return -1;
    }
    return 0;
}

static int save_fn(void *user, gl_model *m, gl_chat *c, const struct gl_callbacks *cb, char **err)
{
    struct doc_data *d = user;
    (void)cb;
    if (!m || !c)
        return err ? gl_err(err, "no model loaded") : -1;
    if (doc_ready(d, err))
        return -1;
    session *s = d->t->doc;
    char *path = d->path ? strdup(d->path) : session_path(s) ? strdup(session_path(s)) : NULL;
    if (!path) {
        char *dir = session_dir(err);
        if (!dir)
            return -1;
        if (session_mkdirs(dir, err)) {
            free(dir);
            return -1;
        }
        const struct gl_turn *t0 = gl_chat_turn(c, 0);
        path = session_autosave_path(dir, t0 && t0->user ? t0->user : "", time(NULL));
        free(dir);
    }
    if (!path)
        return gl_err(err, "out of memory");
    struct session_opts so = session_default_opts();
    if (session_update(s, m, c, &so, err) || session_write(s, path, err)) {
        free(path);
        return -1;
    }
    const char *w = session_warning(s);
    if (w)
        d->warning = strdup(w);
    d->saved = path;
    return 0;
}

static int export_fn(void *user, gl_model *m, gl_chat *c, const struct gl_callbacks *cb, char **err)
{
    struct doc_data *d = user;
    (void)cb;
    if (!m || !c)
        return err ? gl_err(err, "no model loaded") : -1;
    if (doc_ready(d, err))
        return -1;
    struct session_opts so = session_default_opts();
    if (session_update(d->t->doc, m, c, &so, err) || session_export(d->t->doc, d->path, &d->n_missing, err))
        return -1;
    d->saved = strdup(d->path);
    return 0;
}

static int restore_fn(void *user, gl_model *m, gl_chat *c, const struct gl_callbacks *cb, char **err)
{
    struct doc_data *d = user;
    if (!m || !c)
        return err ? gl_err(err, "no model loaded") : -1;
    int rc = session_restore(d->loaded, c, cb, err);
    if (rc == -1)
        return -1;
    d->partial = rc == -2;
    if (d->partial && err) {
        free(*err);
        *err = NULL;
    }
    int n = gl_chat_n_turns(c);
    d->users = calloc((size_t)n + 1, sizeof *d->users);
    d->answers = calloc((size_t)n + 1, sizeof *d->answers);
    d->stops = calloc((size_t)n + 1, sizeof *d->stops);
    if (!d->users || !d->answers || !d->stops)
        return gl_err(err, "out of memory");
    for (int i = 0; i < n; i++) {
        const struct gl_turn *tu = gl_chat_turn(c, i);
        d->users[i] = strdup(tu->user ? tu->user : "");
        d->answers[i] = strdup(tu->answer ? tu->answer : "");
        d->stops[i] = tu->stop;
        d->n_turns = i + 1;
    }
    int ni = gl_chat_n_images(c);
    if (ni > 0 && gl_chat_image(c, ni - 1)->path)
        d->last_image = strdup(gl_chat_image(c, ni - 1)->path);
    /* The loaded document is the conversation's from now on. */
    session_free(d->t->doc);
    d->t->doc = d->loaded;
    d->loaded = NULL;
    return 0;
}

static struct doc_data *doc_data_new(struct tui *t, const char *path)
{
    struct doc_data *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    d->t = t;
    if (path && !(d->path = strdup(path))) {
        free(d);
        return NULL;
    }
    d->reset = t->doc_reset;
    t->doc_reset = false;
    return d;
}

static void save_done(struct tui *t, struct req *r)
{
    struct doc_data *d = r->data;
    if (d->saved) {
        free(t->autosave_path);
        t->autosave_path = strdup(d->saved);
    }
    if (d->warning)
        app_note(t, TR_NOTE, "%s", d->warning);
    if (!r->quiet)
        app_note(t, TR_NOTE, "saved to %s", d->saved ? d->saved : "?");
}

static void export_done(struct tui *t, struct req *r)
{
    struct doc_data *d = r->data;
    if (d->n_missing > 0)
        app_note(t, TR_NOTE, "exported to %s (%d image%s without their bytes)", d->saved, d->n_missing,
                 d->n_missing > 1 ? "s" : "");
    else
        app_note(t, TR_NOTE, "exported to %s", d->saved);
}

static void restore_done(struct tui *t, struct req *r)
{
    struct doc_data *d = r->data;
    transcript_clear_before(t->tr, r->clear_below);
    app_forget_turns(t);
    t->have_last = false;
    for (int i = 0; i < d->n_turns; i++) {
        int u = transcript_add(t->tr, TR_USER, d->users[i]);
        int a = transcript_add(t->tr, TR_ASSISTANT, d->answers[i]);
        if (d->stops[i] == GL_STOP_CANCEL)
            transcript_set_flags(t->tr, a, TR_STOPPED, 0);
        else if (d->stops[i] == GL_STOP_LENGTH)
            transcript_set_flags(t->tr, a, TR_LENGTH, 0);
        app_push_turn(t, u, a);
    }
    free(t->autosave_path);
    t->autosave_path = d->path ? strdup(d->path) : NULL;
    app_note(t, TR_NOTE, "loaded %s: %d turn%s%s", d->path, d->n_turns, d->n_turns == 1 ? "" : "s",
             d->partial ? " (the context is filled again with the next question)" : "");
    if (d->last_image)
        app_request_pixels(t, d->last_image);
    app_refresh_info(t);
}

static void post_doc(struct tui *t, enum req_kind kind, gl_worker_fn fn, struct doc_data *d, bool quiet,
                     void (*on_done)(struct tui *, struct req *))
{
    if (!d) {
        app_note(t, TR_ERROR, "out of memory");
        return;
    }
    struct req *r = post_fn(t, kind, fn, d, doc_free, on_done);
    if (r)
        r->quiet = quiet;
}

void app_save(struct tui *t, const char *path, bool quiet)
{
    post_doc(t, REQ_SAVE, save_fn, doc_data_new(t, path), quiet, save_done);
}

void app_export(struct tui *t, const char *path)
{
    post_doc(t, REQ_EXPORT, export_fn, doc_data_new(t, path), false, export_done);
}

void app_load(struct tui *t, const char *path)
{
    char *err = NULL;
    session *s = session_load(path, &err);
    if (!s) {
        app_note(t, TR_ERROR, "%s", err ? err : "cannot load the session");
        free(err);
        return;
    }
    struct session_info si;
    session_get_info(s, &si);
    char *other = NULL;
    if (si.llm.present && si.llm.file && strcmp(si.llm.file, app_base_name(t->llm)) != 0)
        other = strdup(si.llm.file);
    struct gl_chat_params cp = t->cp;
    session_chat_params(s, &cp);
    if (cp.system) {
        char *sys = strdup(cp.system);
        free(t->system);
        t->system = sys;
    } else {
        free(t->system);
        t->system = NULL;
    }
    cp.system = t->system;
    t->cp = cp;
    app_post(t, REQ_LOAD, gl_worker_load(t->w, t->llm, t->mmproj, &t->mp, &t->cp), "session");
    struct doc_data *d = doc_data_new(t, path);
    if (!d) {
        session_free(s);
        free(other);
        app_note(t, TR_ERROR, "out of memory");
        return;
    }
    d->loaded = s;
    post_doc(t, REQ_RESTORE, restore_fn, d, false, restore_done);
    if (other)
        app_note(t, TR_NOTE, "the session was recorded with %s; continuing with %s", other, app_base_name(t->llm));
    free(other);
}
