/*
 * prompt.c - chat templates (see prompt.h): the turn's text is assembled as
 * the original code assembles it, then tokenized by that code's rules.
 */
#include "config.h"

#include "glimpse/prompt.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

static const char *const names[GL_TMPL_COUNT] = {"vicuna_v1", "llava_v1", "llama.cpp", "raw"};

static const char sys_user[] =
    "A chat between a curious user and an artificial intelligence assistant. The assistant gives "
    "helpful, detailed, and polite answers to the user's questions.";
static const char sys_human[] =
    "A chat between a curious human and an artificial intelligence assistant. The assistant gives "
    "helpful, detailed, and polite answers to the human's questions.";

const char *gl_template_name(enum gl_template t)
{
    return (unsigned)t < GL_TMPL_COUNT ? names[t] : "?";
}

int gl_template_parse(const char *name, enum gl_template *out, char **err)
{
    for (int i = 0; i < GL_TMPL_COUNT; i++)
        if (strcmp(name, names[i]) == 0) {
            *out = (enum gl_template)i;
            return 0;
        }
    if (strcmp(name, "llamacpp") == 0 || strcmp(name, "compat") == 0) {
        *out = GL_TMPL_LLAMACPP;
        return 0;
    }
    return gl_err(err, "unknown template '%s' (choose vicuna_v1, llava_v1, llama.cpp or raw)", name);
}

const char *gl_template_system(enum gl_template t)
{
    switch (t) {
    case GL_TMPL_VICUNA_V1:
        return sys_user;
    case GL_TMPL_LLAVA_V1:
    case GL_TMPL_LLAMACPP:
        return sys_human;
    default:
        return "";
    }
}

/* A growable string. */
struct sbuf {
    char *s;
    size_t n, cap;
    bool oom;
};

static void sb_add(struct sbuf *b, const char *s, size_t len)
{
    if (b->oom)
        return;
    if (b->n + len + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + len + 1)
            cap *= 2;
        char *p = realloc(b->s, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->s = p;
        b->cap = cap;
    }
    memcpy(b->s + b->n, s, len);
    b->n += len;
    b->s[b->n] = 0;
}

static void sb_str(struct sbuf *b, const char *s)
{
    sb_add(b, s, strlen(s));
}

/* Text that follows a special token, as transformers' slow LLaMA tokenizer
 * (legacy=False) encodes it: SentencePiece with its space prefix, then the
 * first piece loses its leading U+2581 (and is dropped if nothing is left);
 * what remains is looked up as it is, unknown if the vocabulary lacks it.
 * So "USER:" becomes "US" "ER" ":" (3308 1001 29901), not "USER" ":". */
static int encode_after_special(const tok_vocab *v, const char *s, size_t len,
                                struct tok_ids *out, char **err)
{
    static const char mark[] = "\xe2\x96\x81"; /* U+2581 */
    if (len > 0 && s[0] == ' ') /* a real leading space keeps its piece */
        return tok_encode_plain(v, s, len, true, out, err);
    size_t first = out->n;
    if (tok_encode_plain(v, s, len, true, out, err))
        return -1;
    if (out->n == first)
        return 0;
    const char *t = tok_text(v, out->ids[first]);
    if (!t || strncmp(t, mark, 3) != 0)
        return 0;
    if (t[3] == 0) { /* the piece was the lone marker: drop it */
        memmove(out->ids + first, out->ids + first + 1, (out->n - first - 1) * sizeof *out->ids);
        out->n--;
        return 0;
    }
    int32_t id = tok_lookup(v, t + 3, strlen(t + 3));
    if (id < 0 && (id = tok_unk(v)) < 0)
        return gl_err(err, "the vocabulary has no piece '%s' and no unknown token", t + 3);
    out->ids[first] = id;
    return 0;
}

/* LLaVA's tokenizer_image_token over an assembled prompt string: cut at
 * "<image>" (each cut becomes GL_PROMPT_IMAGE), and within a chunk at "</s>"
 * (EOS). The first text of each chunk gets the SentencePiece space prefix;
 * text right after "</s>" is encoded as encode_after_special() says. */
static int tokenize_llava(const tok_vocab *v, const char *s, bool bos, struct tok_ids *out,
                          char **err)
{
    static const char img[] = "<image>", eos[] = "</s>";
    if (bos && tok_ids_push(out, tok_bos(v)))
        goto oom;
    bool chunk_start = true;
    while (*s) {
        const char *ni = strstr(s, img), *ne = strstr(s, eos);
        const char *cut = ni && (!ne || ni < ne) ? ni : ne;
        size_t len = cut ? (size_t)(cut - s) : strlen(s);
        if (len > 0 && (chunk_start ? tok_encode_plain(v, s, len, true, out, err)
                                    : encode_after_special(v, s, len, out, err)))
            return -1;
        if (!cut)
            break;
        if (cut == ni) {
            if (tok_ids_push(out, GL_PROMPT_IMAGE))
                goto oom;
            chunk_start = true;
            s = cut + sizeof img - 1;
        } else {
            if (tok_ids_push(out, tok_eos(v)))
                goto oom;
            chunk_start = false;
            s = cut + sizeof eos - 1;
        }
    }
    return 0;
oom:
    return gl_err(err, "out of memory");
}

int gl_prompt_turn(const tok_vocab *v, enum gl_template t, const char *system, bool first,
                   const char *text, int n_images, struct tok_ids *out, char **err)
{
    struct sbuf b = {0};
    int rc = -1;
    if (!system)
        system = gl_template_system(t);
    if (n_images < 0)
        n_images = 0;

    switch (t) {
    case GL_TMPL_VICUNA_V1:
    case GL_TMPL_LLAVA_V1:
        /* SeparatorStyle.TWO: system + " " + "USER: " + msg + " " + "ASSISTANT:" ;
         * an answer is closed by "</s>" before the next "USER: ". */
        if (first) {
            sb_str(&b, system);
            sb_str(&b, " ");
        } else {
            sb_str(&b, "</s>");
        }
        sb_str(&b, "USER: ");
        for (int i = 0; i < n_images; i++)
            sb_str(&b, "<image>\n");
        sb_str(&b, text);
        sb_str(&b, " ASSISTANT:");
        if (b.oom)
            goto oom;
        rc = tokenize_llava(v, b.s, first, out, err);
        break;
    case GL_TMPL_LLAMACPP:
        /* llava-cli: tokenize(system + "\nUSER:", bos, special), the image rows,
         * tokenize(text + "\nASSISTANT:", no bos, special). Later turns follow
         * the same shape without BOS and system. */
        if (first) {
            sb_str(&b, system);
            sb_str(&b, "\nUSER:");
        } else {
            sb_str(&b, "\nUSER:");
        }
        if (b.oom)
            goto oom;
        if (tok_tokenize(v, b.s, b.n, first, true, out, err))
            goto done;
        for (int i = 0; i < n_images; i++)
            if (tok_ids_push(out, GL_PROMPT_IMAGE))
                goto oom;
        b.n = 0;
        sb_str(&b, text);
        sb_str(&b, "\nASSISTANT:");
        if (b.oom)
            goto oom;
        rc = tok_tokenize(v, b.s, b.n, false, true, out, err);
        break;
    case GL_TMPL_RAW:
        /* BOS (when the vocabulary wants it), the images, the text as is. */
        if (first && tok_add_bos(v) && tok_ids_push(out, tok_bos(v)))
            goto oom;
        for (int i = 0; i < n_images; i++)
            if (tok_ids_push(out, GL_PROMPT_IMAGE))
                goto oom;
        rc = tok_tokenize(v, text, strlen(text), false, true, out, err);
        break;
    default:
        gl_err(err, "unknown template");
        break;
    }
done:
    free(b.s);
    return rc;
oom:
    free(b.s);
    return gl_err(err, "out of memory");
}
