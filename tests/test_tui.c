/*
 * test_tui.c - the chat's pure parts: UTF-8 decoding, widths and wrapping
 * (wide CJK, emoji, combining marks), the transcript's rows, the key
 * decoder, image paths in messages, the command table and parser, Tab
 * completion, the status line, and that every command and key is in /help,
 * the man page and the README.
 */
#include "config.h"

#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "ui/attach.h"
#include "ui/commands.h"
#include "ui/keys.h"
#include "ui/status.h"
#include "ui/text.h"
#include "ui/transcript.h"

/* ------------------------------------------------------------ UTF-8 */

static void test_decode(void)
{
    uint32_t cp;
    is_int(text_decode("a", 1, &cp), 1, "ASCII takes 1 byte");
    is_int(cp, 'a', "ASCII value");
    is_int(text_decode("\xC3\xA9", 2, &cp), 2, "é takes 2 bytes");
    is_int(cp, 0xE9, "é is U+00E9");
    is_int(text_decode("\xE4\xB8\xAD", 3, &cp), 3, "中 takes 3 bytes");
    is_int(cp, 0x4E2D, "中 is U+4E2D");
    is_int(text_decode("\xF0\x9F\x98\x80", 4, &cp), 4, "an emoji takes 4 bytes");
    is_int(cp, 0x1F600, "😀 is U+1F600");
    static const char *const bad[] = {"\xC0\x80", "\xED\xA0\x80", "\xF4\x90\x80\x80", "\x80", "\xFF"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        int n = text_decode(bad[i], strlen(bad[i]), &cp);
        ok(n == 1 && cp == TEXT_REPLACEMENT, "malformed sequence %zu gives U+FFFD over one byte", i);
    }
    is_int(text_decode("\xE4\xB8", 2, &cp), 1, "a truncated sequence takes one byte");
    is_int(cp, TEXT_REPLACEMENT, "and is U+FFFD");
    is_int(text_prev("a\xE4\xB8\xAD", 4), 1, "text_prev steps over a whole character");
    is_int(text_prev("ab", 1), 0, "text_prev from 1");
}

static void test_width(void)
{
    is_int(text_cp_width('a'), 1, "a is 1 column");
    is_int(text_cp_width(0x4E2D), 2, "CJK is 2 columns");
    is_int(text_cp_width(0x1F600), 2, "emoji is 2 columns");
    is_int(text_cp_width(0x0301), 0, "a combining acute is 0 columns");
    is_int(text_cp_width(0x200D), 0, "ZWJ is 0 columns");
    is_int(text_cp_width(0x1B), -1, "ESC is not printable");
    is_int(text_cp_width(0x85), -1, "C1 controls are not printable");
    is_int(text_width("hello", 5), 5, "width of ASCII");
    is_int(text_width("e\xCC\x81", 3), 1, "e + combining acute is 1 column");
    is_int(text_width("\xE4\xB8\xAD\xE6\x96\x87", 6), 4, "two CJK characters are 4 columns");
    is_int(text_width("\xF0\x9F\x98\x80" "a", 5), 3, "emoji + a is 3 columns");
    int used;
    const char *cjk = "\xE4\xB8\xAD\xE6\x96\x87\xE5\xAD\x97";     /* 中文字, 6 columns */
    is_int(text_fit(cjk, 9, 5, &used), 6, "fit: 5 columns hold two CJK characters (6 bytes)");
    is_int(used, 4, "fit: they take 4 columns");
    const char *comb = "ae\xCC\x81" "b";    /* a é(combining) b */
    is_int(text_fit(comb, 5, 2, &used), 4, "fit keeps a combining mark with its base");
    is_int(text_fit_tail(cjk, 9, 3, &used), 6, "fit_tail: the last CJK character");
    is_int(used, 2, "fit_tail: 2 columns");
    is_int(text_fit_tail(comb, 5, 2, &used), 1, "fit_tail starts at a base, not at a mark");
}

static void test_sanitize(void)
{
    size_t n;
    char *s = text_sanitize("\033[31mred", 8, &n);
    is_str(s, "\xEF\xBF\xBD[31mred", "ESC becomes U+FFFD (no escape reaches the terminal)");
    free(s);
    s = text_sanitize("a\tb", 3, &n);
    is_str(s, "a   b", "a tab goes to the next multiple of 4 columns");
    free(s);
    s = text_sanitize("x\r\ny\rz", 6, &n);
    is_str(s, "x\ny\nz", "CR LF and lone CR become LF");
    free(s);
    s = text_sanitize("a\xFF" "b", 3, &n);
    is_str(s, "a\xEF\xBF\xBD" "b", "an invalid byte becomes U+FFFD");
    is_int(n, 5, "with its length");
    free(s);
    s = text_sanitize("\xCC\x81x", 3, &n);
    is_str(s, "\xC2\xA0\xCC\x81x", "a mark at the start gets a no-break space to sit on");
    free(s);
    s = text_sanitize("a \xCC\x88", 4, &n);
    is_str(s, "a \xC2\xA0\xCC\x88", "so does a mark after a space (a line may break there)");
    free(s);
    s = text_sanitize("\xE4\xB8\xAD\xF0\x9F\x98\x80", 7, &n);
    is_str(s, "\xE4\xB8\xAD\xF0\x9F\x98\x80", "CJK and emoji pass unchanged");
    free(s);
}

static int line_is(const char *s, const struct text_line *l, const char *want)
{
    return l->end - l->start == strlen(want) && memcmp(s + l->start, want, strlen(want)) == 0;
}

static void test_wrap(void)
{
    struct text_line *ls;
    int n;
    const char *s = "the quick brown fox";
    ok(text_wrap(s, strlen(s), 10, &ls, &n) == 0 && n == 2, "two lines at 10 columns");
    ok(n == 2 && line_is(s, &ls[0], "the quick") && line_is(s, &ls[1], "brown fox"), "broken between words");
    ok(n == 2 && ls[0].width == 9, "the first line is 9 columns (the space at the break dropped)");
    free(ls);

    s = "abcdefghij";
    ok(text_wrap(s, strlen(s), 4, &ls, &n) == 0 && n == 3, "a long word takes 3 lines of 4");
    ok(n == 3 && line_is(s, &ls[0], "abcd") && line_is(s, &ls[2], "ij"), "cut between characters");
    free(ls);

    s = "\xE4\xB8\xAD\xE6\x96\x87\xE4\xB8\xAD\xE6\x96\x87\xE4\xB8\xAD";  /* 中文中文中 */
    ok(text_wrap(s, strlen(s), 5, &ls, &n) == 0 && n == 3, "CJK: 2 per 5-column line");
    ok(n == 3 && ls[0].width == 4 && ls[2].width == 2, "a wide character never straddles the edge");
    free(ls);

    s = "ab\xF0\x9F\x98\x80\xF0\x9F\x98\x80";    /* ab😀😀 */
    ok(text_wrap(s, strlen(s), 3, &ls, &n) == 0 && n == 3, "emoji wrap: ab / 😀 / 😀");
    ok(n == 3 && line_is(s, &ls[1], "\xF0\x9F\x98\x80"), "an emoji moves whole to the next line");
    free(ls);

    s = "abe\xCC\x81" "cd";                       /* abé cd, é with a combining mark */
    ok(text_wrap(s, strlen(s), 3, &ls, &n) == 0 && n == 2, "combining: two lines");
    ok(n == 2 && line_is(s, &ls[0], "abe\xCC\x81"), "the mark stays on the line of its base");
    free(ls);

    s = "one\n\ntwo\n";
    ok(text_wrap(s, strlen(s), 20, &ls, &n) == 0 && n == 4, "explicit newlines: 4 lines");
    ok(n == 4 && ls[1].end == ls[1].start && line_is(s, &ls[2], "two") && ls[3].start == strlen(s),
       "an empty line is kept, a trailing newline starts an empty line");
    free(ls);

    s = "word     \nnext";
    ok(text_wrap(s, strlen(s), 4, &ls, &n) == 0 && n == 2, "spaces that overflow before a newline");
    ok(n == 2 && line_is(s, &ls[0], "word") && line_is(s, &ls[1], "next"),
       "do not add an empty line");
    free(ls);

    s = "";
    ok(text_wrap(s, 0, 10, &ls, &n) == 0 && n == 1 && ls[0].end == 0, "empty text is one empty line");
    free(ls);

    s = "\xE4\xB8\xAD";
    ok(text_wrap(s, 3, 1, &ls, &n) == 0 && n == 1 && ls[0].width == 2,
       "width 1: a wide character overflows alone instead of looping");
    free(ls);
}

/* Random mixed text: every line fits, no line starts with a mark, and the
 * non-space characters come out in order. */
static void test_wrap_property(void)
{
    static const char *const atoms[] = {
        "a", "word", "longerwordthanthat", " ", " ", "  ", "\n", "\xE4\xB8\xAD", "\xE6\x96\x87",
        "\xF0\x9F\x98\x80", "e\xCC\x81", "\xCC\x88", "\xC3\xA9", "x\xE2\x80\x8Dy",
    };
    unsigned seed = 12345;
    int bad_width = 0, bad_mark = 0, bad_order = 0, cases = 0;
    for (int it = 0; it < 400; it++) {
        char raw[512];
        size_t o = 0;
        int k = 1 + (int)((seed = seed * 1103515245 + 12345) >> 16) % 40;
        for (int j = 0; j < k; j++) {
            const char *a = atoms[((seed = seed * 1103515245 + 12345) >> 16) % (sizeof atoms / sizeof *atoms)];
            size_t l = strlen(a);
            if (o + l >= sizeof raw)
                break;
            memcpy(raw + o, a, l);
            o += l;
        }
        size_t n;
        char *s = text_sanitize(raw, o, &n);
        int width = 1 + (int)((seed = seed * 1103515245 + 12345) >> 16) % 30;
        struct text_line *ls;
        int nl;
        if (!s || text_wrap(s, n, width, &ls, &nl)) {
            free(s);
            bad_width++;
            continue;
        }
        cases++;
        char joined[2048], orig[2048];
        size_t jo = 0, oo = 0;
        for (int i = 0; i < nl; i++) {
            int w = text_width(s + ls[i].start, ls[i].end - ls[i].start);
            if (w != ls[i].width || (w > width && !(width < 2 && w == 2)))
                bad_width++;
            if (ls[i].end > ls[i].start) {
                uint32_t cp;
                text_decode(s + ls[i].start, ls[i].end - ls[i].start, &cp);
                if (text_cp_width(cp) == 0)
                    bad_mark++;
            }
            for (size_t b = ls[i].start; b < ls[i].end; b++)
                if (s[b] != ' ' && s[b] != '\n')
                    joined[jo++] = s[b];
        }
        for (size_t b = 0; b < n; b++)
            if (s[b] != ' ' && s[b] != '\n')
                orig[oo++] = s[b];
        if (jo != oo || memcmp(joined, orig, oo) != 0)
            bad_order++;
        free(ls);
        free(s);
    }
    is_int(cases, 400, "400 random texts wrapped");
    is_int(bad_width, 0, "every line fits its width and reports it right");
    is_int(bad_mark, 0, "no line starts with a zero-width character");
    is_int(bad_order, 0, "no character is lost, duplicated or reordered");
}

/* ------------------------------------------------------------ the transcript */

static void test_transcript(void)
{
    struct transcript *tr = transcript_new();
    int q = transcript_add(tr, TR_USER, "What is in this picture?");
    int a = transcript_add(tr, TR_ASSISTANT, "");
    transcript_append(tr, a, " A grey", 7);
    transcript_append(tr, a, " cat on a red sofa next to a folded blanket", 43);
    struct tr_entry *e = transcript_get(tr, a);
    is_str(e->text, "A grey cat on a red sofa next to a folded blanket", "an answer's leading space is dropped");
    int rows = transcript_layout(tr, 40);
    /* user: 1 line; blank; answer: 49 chars in 31 columns -> 2 lines */
    is_int(rows, 4, "question, blank row, two answer lines");
    struct tr_row r;
    ok(transcript_row(tr, 0, &r) == 0 && r.e->id == q && r.type == TR_ROW_TEXT && r.first && r.indent == TR_GUTTER,
       "row 0: the question's first line, beside its label");
    ok(transcript_row(tr, 1, &r) == 0 && r.type == TR_ROW_BLANK, "row 1: a blank between turns");
    ok(transcript_row(tr, 3, &r) == 0 && r.e->id == a && r.type == TR_ROW_TEXT && r.line == 1,
       "row 3: the answer's second line");
    ok(transcript_row(tr, 4, &r) == -1, "row 4 does not exist");
    transcript_set_flags(tr, a, TR_STOPPED, 0);
    is_int(transcript_layout(tr, 40), 5, "a stopped answer gets a marker row");
    ok(transcript_row(tr, 4, &r) == 0 && r.type == TR_ROW_MARKER, "the marker is the last row");
    is_str(transcript_marker(TR_STOPPED), "stopped", "its text");
    is_int(transcript_layout(tr, 20), 2 + 1 + 1 + 4 + 1, "narrow: labels on rows of their own");
    ok(transcript_row(tr, 0, &r) == 0 && r.type == TR_ROW_LABEL, "row 0 is the label when narrow");
    int n1 = transcript_add(tr, TR_NOTE, "attached cat.jpg");
    int n2 = transcript_add(tr, TR_NOTE, "temp 0");
    transcript_layout(tr, 40);
    ok(transcript_get(tr, n1)->rows == 2 && transcript_get(tr, n2)->rows == 1,
       "a blank before the first note after an answer, none between notes");
    transcript_remove(tr, a);
    ok(!transcript_get(tr, a) && transcript_get(tr, q), "remove takes one entry");
    transcript_layout(tr, 40);
    ok(transcript_get(tr, n1)->first_row == 1, "and the rows below move up");
    /* A CJK answer wraps by columns, not bytes. */
    int c = transcript_add(tr, TR_ASSISTANT, "\xE4\xB8\xAD\xE6\x96\x87\xE4\xB8\xAD\xE6\x96\x87\xE4\xB8\xAD\xE6\x96\x87");
    transcript_layout(tr, 5);
    is_int(transcript_get(tr, c)->n_lines, 3, "six CJK characters in 5 columns: 3 lines");
    transcript_layout(tr, TR_NARROW);
    is_int(transcript_get(tr, c)->n_lines, 1, "and one line beside the label at 32 columns");
    transcript_clear(tr);
    is_int(transcript_layout(tr, 40), 0, "cleared: no rows");
    transcript_free(tr);
}

/* ------------------------------------------------------------ keys */

struct got {
    char log[1024];
    size_t n;
};

static void on_key(void *user, const struct keys_event *ev)
{
    struct got *g = user;
    static const char *const names[] = {"T", "PASTE", "PGUP", "PGDN", "WUP", "WDN", "ESC", "INTR", "SUSP",
                                        "REDRAW", "F2", "F3"};
    g->n += (size_t)snprintf(g->log + g->n, sizeof g->log - g->n, "%s", names[ev->kind]);
    if (ev->kind == KEYS_TEXT || ev->kind == KEYS_PASTE) {
        g->n += (size_t)snprintf(g->log + g->n, sizeof g->log - g->n, "(");
        for (size_t i = 0; i < ev->len; i++) {
            unsigned char ch = (unsigned char)ev->bytes[i];
            g->n += (size_t)snprintf(g->log + g->n, sizeof g->log - g->n, ch == 27 ? "^[" : ch == '\n' ? "\\n" : "%c", ch);
        }
        g->n += (size_t)snprintf(g->log + g->n, sizeof g->log - g->n, ")");
    }
    g->n += (size_t)snprintf(g->log + g->n, sizeof g->log - g->n, " ");
}

static const char *keys_of(const char *in, bool flush)
{
    static struct got g;
    memset(&g, 0, sizeof g);
    struct keys k;
    keys_init(&k);
    keys_feed(&k, in, strlen(in), on_key, &g);
    if (flush)
        keys_flush(&k, on_key, &g);
    keys_free(&k);
    return g.log;
}

static void test_keys(void)
{
    is_str(keys_of("ab", false), "T(a) T(b) ", "text goes to readline byte by byte");
    is_str(keys_of("\x03\x1a\x0c", false), "INTR SUSP REDRAW ", "Ctrl-C, Ctrl-Z, Ctrl-L are ours");
    is_str(keys_of("\x04", false), "T(\x04) ", "Ctrl-D goes to readline (it knows the empty line)");
    is_str(keys_of("\033[5~\033[6~\033[5;5~", false), "PGUP PGDN PGUP ", "PgUp, PgDn, with modifiers");
    is_str(keys_of("\033[<64;10;5M\033[<65;1;1M\033[<0;3;3M\033[<0;3;3m", false), "WUP WDN ",
           "SGR wheel up and down; clicks ignored");
    is_str(keys_of("\033[M`!!\033[Ma!!", false), "WUP WDN ", "X10 wheel reports");
    is_str(keys_of("\033[A\033OB\033[3~", false), "T(^[[A) T(^[OB) T(^[[3~) ", "arrows and Delete reach readline whole");
    is_str(keys_of("\033b", false), "T(^[b) ", "Alt-b reaches readline");
    is_str(keys_of("\033OQ\033[13~\033[1;2Q", false), "F2 F3 F2 ", "F2 and F3 in their spellings");
    is_str(keys_of("\033", false), "", "a lone Esc waits for more bytes");
    is_str(keys_of("\033", true), "ESC ", "and is Esc when none come");
    is_str(keys_of("\033\033[A", false), "ESC T(^[[A) ", "Esc then an arrow");
    is_str(keys_of("\033[200~line one\r\nline two\033[201~x", false), "PASTE(line one\r\\nline two) T(x) ",
           "bracketed paste arrives whole, newlines and all");
    is_str(keys_of("\033[200~a\033[20x\033[201~", false), "PASTE(a^[[20x) ", "a false end marker is content");
    is_str(keys_of("\033[200~unfinished", true), "PASTE(unfinished) ", "a paste without its end is delivered on flush");
    is_str(keys_of("\033[1", true), "T(^[[1) ", "an unfinished sequence goes to readline on flush");
    /* Split across reads. */
    struct got g = {0};
    struct keys k;
    keys_init(&k);
    keys_feed(&k, "\033[", 2, on_key, &g);
    ok(keys_pending(&k), "half a sequence is pending");
    keys_feed(&k, "6~", 2, on_key, &g);
    is_str(g.log, "PGDN ", "a sequence split across two reads");
    keys_free(&k);
}

/* ------------------------------------------------------------ attachments */

static bool fake_image(const char *path, void *user)
{
    (void)user;
    static const char *const known[] = {"/tmp/a.png", "/tmp/my cat.jpg", "/home/u/x.png", "rel/pic.jpeg"};
    for (size_t i = 0; i < sizeof known / sizeof *known; i++)
        if (strcmp(path, known[i]) == 0)
            return true;
    return false;
}

static void test_attach(void)
{
    struct attach_result r;
    setenv("HOME", "/home/u", 1);
    attach_extract("what is in /tmp/a.png", fake_image, NULL, &r);
    ok(r.n_paths == 1 && strcmp(r.paths[0], "/tmp/a.png") == 0, "a plain path is found");
    is_str(r.text, "what is in", "and taken out of the question");
    attach_result_free(&r);
    attach_extract("'/tmp/my cat.jpg' what's this?", fake_image, NULL, &r);
    ok(r.n_paths == 1 && strcmp(r.paths[0], "/tmp/my cat.jpg") == 0, "a quoted path with a space");
    is_str(r.text, "what's this?", "an apostrophe in the question is just a letter");
    attach_result_free(&r);
    attach_extract("/tmp/my\\ cat.jpg ", fake_image, NULL, &r);
    ok(r.n_paths == 1 && strcmp(r.paths[0], "/tmp/my cat.jpg") == 0, "a backslash-escaped space, a trailing space");
    is_str(r.text, "", "only the path: no question");
    attach_result_free(&r);
    attach_extract("describe file:///tmp/my%20cat.jpg please", fake_image, NULL, &r);
    ok(r.n_paths == 1 && strcmp(r.paths[0], "/tmp/my cat.jpg") == 0, "a file:// URI with %%20");
    is_str(r.text, "describe please", "the words around it stay");
    attach_result_free(&r);
    attach_extract("is ~/x.png blue?", fake_image, NULL, &r);
    ok(r.n_paths == 1 && strcmp(r.paths[0], "/home/u/x.png") == 0, "~ is the home directory");
    is_str(r.text, "is blue?", "text kept");
    attach_result_free(&r);
    attach_extract("compare /tmp/a.png, rel/pic.jpeg.", fake_image, NULL, &r);
    ok(r.n_paths == 2 && strcmp(r.paths[1], "rel/pic.jpeg") == 0, "trailing punctuation is not part of a path");
    attach_result_free(&r);
    attach_extract("look at /etc/passwd and \"quoted words\"", fake_image, NULL, &r);
    is_int(r.n_paths, 0, "a path that is no image stays in the text");
    is_str(r.text, "look at /etc/passwd and \"quoted words\"", "the text is as typed");
    attach_result_free(&r);

    /* The real check reads the magic bytes. */
    const char *dir = tap_tmpdir();
    char png[512], txt[512];
    snprintf(png, sizeof png, "%s/tui-magic.png", dir);
    snprintf(txt, sizeof txt, "%s/tui-text.png", dir);
    FILE *f = fopen(png, "wb");
    fwrite("\x89PNG\r\n\x1a\n\0\0\0\rIHDR", 1, 16, f);
    fclose(f);
    f = fopen(txt, "wb");
    fputs("not an image at all", f);
    fclose(f);
    ok(attach_is_image(png, NULL), "a file starting with the PNG signature is an image");
    ok(!attach_is_image(txt, NULL), "a text file named .png is not");
    ok(!attach_is_image(dir, NULL), "a directory is not");
    remove(png);
    remove(txt);
}

/* ------------------------------------------------------------ commands */

static void test_commands(void)
{
    int n;
    const struct cmd_entry *tab = cmd_table(&n);
    static const char *const want[] = {"image", "clear", "system", "set", "regen", "undo", "stats",
                                       "context", "save", "load", "export", "view", "help", "quit"};
    is_int(n, (int)(sizeof want / sizeof *want), "the table has every command");
    bool complete = true, unique = true;
    for (int i = 0; i < n; i++) {
        if (!tab[i].name || !tab[i].args || !tab[i].help || !*tab[i].help || !tab[i].fn)
            complete = false;
        for (int j = 0; j < i; j++)
            if (strcmp(tab[i].name, tab[j].name) == 0)
                unique = false;
    }
    ok(complete, "each entry has a name, arguments, help and a handler");
    ok(unique, "names are unique");
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
        char *err = NULL;
        const struct cmd_entry *e = cmd_lookup(want[i], &err);
        ok(e && strcmp(e->name, want[i]) == 0, "/%s is found", want[i]);
        free(err);
    }
    char *err = NULL;
    const struct cmd_entry *e = cmd_lookup("q", &err);
    ok(e && strcmp(e->name, "quit") == 0, "/q is /quit (a unique prefix)");
    ok(!cmd_lookup("s", &err) && err && strstr(err, "ambiguous") && strstr(err, "/set") && strstr(err, "/save"),
       "/s is ambiguous and the message lists the candidates");
    free(err);
    err = NULL;
    ok(!cmd_lookup("frobnicate", &err) && err && strstr(err, "unknown command /frobnicate"), "unknown command");
    free(err);

    struct cmd_args a;
    err = NULL;
    ok(cmd_parse("/image 'my cat.jpg'", &e, &a, &err) == 0 && a.argc == 1 && strcmp(a.argv[0], "my cat.jpg") == 0,
       "arguments are unquoted");
    cmd_args_free(&a);
    ok(cmd_parse("  /set temp 0.5", &e, &a, &err) == 0 && strcmp(e->name, "set") == 0 && a.argc == 2 &&
       strcmp(a.argv[1], "0.5") == 0, "/set NAME VALUE");
    cmd_args_free(&a);
    ok(cmd_parse("/set", &e, &a, &err) == 0 && a.argc == 0, "/set alone");
    cmd_args_free(&a);
    ok(cmd_parse("/image", &e, &a, &err) == -1 && err && strstr(err, "usage: /image PATH"),
       "a missing argument shows the usage");
    free(err);
    err = NULL;
    ok(cmd_parse("/undo now", &e, &a, &err) == -1 && err && strstr(err, "usage: /undo"), "an extra argument too");
    free(err);
    err = NULL;
    ok(cmd_parse("/system You are a pirate. Answer \"arr\".", &e, &a, &err) == 0 &&
       strcmp(a.rest, "You are a pirate. Answer \"arr\".") == 0, "/system takes the rest of the line as it is");
    cmd_args_free(&a);
    ok(cmd_parse("/clear all", &e, &a, &err) == 0 && a.argc == 1 && strcmp(a.argv[0], "all") == 0, "/clear all");
    cmd_args_free(&a);

    char *argv[4];
    int argc;
    ok(cmd_split("a \"b c\" d\\ e", argv, 4, &argc) == 0 && argc == 3 && strcmp(argv[1], "b c") == 0 &&
       strcmp(argv[2], "d e") == 0, "cmd_split: quotes and escapes");
    for (int i = 0; i < argc; i++)
        free(argv[i]);
    ok(cmd_split("1 2 3 4 5", argv, 4, &argc) == -1, "cmd_split refuses too many words");

    /* Tab completion */
    const char *const *words;
    int nw = 0;
    ok(cmd_complete("/se", 0, 3, &words, &nw) == INPUT_COMPLETE_WORDS && nw == n, "a command name completes from the table");
    bool has_set = false;
    for (int i = 0; i < nw; i++)
        has_set |= strcmp(words[i], "/set") == 0;
    ok(has_set, "with the slash");
    ok(cmd_complete("/image pic", 7, 10, &words, &nw) == INPUT_COMPLETE_FILES, "/image completes file names");
    ok(cmd_complete("/set te", 5, 7, &words, &nw) == INPUT_COMPLETE_WORDS && nw > 0 && strcmp(words[0], "temp") == 0,
       "/set completes setting names");
    ok(cmd_complete("/set temp 0", 10, 11, &words, &nw) == INPUT_COMPLETE_NONE, "not the value");
    ok(cmd_complete("/view m", 6, 7, &words, &nw) == INPUT_COMPLETE_WORDS, "/view completes its modes");
    ok(cmd_complete("what is this", 8, 12, &words, &nw) == INPUT_COMPLETE_NONE, "plain words do not complete");
    ok(cmd_complete("what is ./pi", 8, 12, &words, &nw) == INPUT_COMPLETE_FILES, "a path in a question completes");

    char *help = cmd_help_text();
    bool all = help != NULL;
    for (int i = 0; all && i < n; i++) {
        char needle[32];
        snprintf(needle, sizeof needle, "/%s", tab[i].name);
        all = strstr(help, needle) != NULL;
    }
    ok(all, "/help lists every command");
    int nk;
    const struct key_entry *keys = cmd_keys(&nk);
    all = help != NULL;
    for (int i = 0; all && i < nk; i++)
        all = strstr(help, keys[i].key) != NULL;
    ok(all, "/help lists every key");
    free(help);
}

/* The man page and the README name every command and key. */
static void test_docs(void)
{
    const char *src = getenv("srcdir");
    if (!src)
        src = ".";
    static const char *const docs[] = {"man/glimpse.1", "README.md"};
    int n, nk;
    const struct cmd_entry *tab = cmd_table(&n);
    const struct key_entry *keys = cmd_keys(&nk);
    for (size_t d = 0; d < sizeof docs / sizeof *docs; d++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", src, docs[d]);
        size_t len;
        char *text = tap_slurp(path, &len);
        if (!text) {
            tap_skip(2, "%s not found", path);
            continue;
        }
        /* groff escapes a hyphen as \- : compare without the backslashes. */
        char *o = text;
        for (const char *p = text; *p; p++)
            if (!(p[0] == '\\' && (p[1] == '-' || p[1] == '(' || p[1] == 'e')))
                *o++ = *p;
        *o = 0;
        char missing[512] = "";
        for (int i = 0; i < n; i++) {
            char needle[32];
            snprintf(needle, sizeof needle, "/%s", tab[i].name);
            if (!strstr(text, needle))
                snprintf(missing + strlen(missing), sizeof missing - strlen(missing), " %s", needle);
        }
        ok(!*missing, "%s names every command", docs[d]);
        if (*missing)
            tap_diag("  missing:%s", missing);
        missing[0] = 0;
        for (int i = 0; i < nk; i++)
            if (!strstr(text, keys[i].key))
                snprintf(missing + strlen(missing), sizeof missing - strlen(missing), " %s", keys[i].key);
        ok(!*missing, "%s names every key", docs[d]);
        if (*missing)
            tap_diag("  missing:%s", missing);
        free(text);
    }
}

/* ------------------------------------------------------------ the status line */

static void test_status(void)
{
    char b[128];
    status_bar(b, sizeof b, 0.5, 10, false);
    is_str(b, "[#####.....]", "half a bar");
    status_bar(b, sizeof b, 1.7, 4, false);
    is_str(b, "[####]", "a fraction above 1 is a full bar");
    status_bar(b, sizeof b, 0.25, 4, true);
    is_str(b, "[\u2588\u2591\u2591\u2591]", "Unicode blocks");
    status_eta(b, sizeof b, 3.0, 0.25);
    is_str(b, "ETA 9s", "a quarter done in 3 s: 9 s left");
    status_eta(b, sizeof b, 60.0, 0.25);
    is_str(b, "ETA 3m00s", "minutes");
    status_eta(b, sizeof b, 0.1, 0.5);
    is_str(b, "", "no ETA before half a second");
    status_eta(b, sizeof b, 5.0, 0.01);
    is_str(b, "", "no ETA below 2%%");
    status_duration(b, sizeof b, 850);
    is_str(b, "850 ms", "milliseconds");
    status_duration(b, sizeof b, 21300);
    is_str(b, "21.3 s", "seconds");
    struct status_seg segs[] = {{"model", 5}, {"ctx 1/2", 8}, {"", 9}, {"12.0 tok/s", 2}, {"ready", 10}};
    char *s = status_compose(segs, 5, 80, " | ");
    is_str(s, "model | ctx 1/2 | 12.0 tok/s | ready", "everything fits; empty segments are skipped");
    free(s);
    s = status_compose(segs, 5, 23, " | ");
    is_str(s, "model | ctx 1/2 | ready", "the least important goes first");
    free(s);
    s = status_compose(segs, 5, 22, " | ");
    is_str(s, "ctx 1/2 | ready", "then the next");
    free(s);
    s = status_compose(segs, 5, 3, " | ");
    is_str(s, "ready", "the most important stays");
    free(s);
}

int main(void)
{
    if (!setlocale(LC_CTYPE, "C.UTF-8") && !setlocale(LC_CTYPE, "en_US.UTF-8"))
        tap_skip_all("no UTF-8 locale");
    test_decode();
    test_width();
    test_sanitize();
    test_wrap();
    test_wrap_property();
    test_transcript();
    test_keys();
    test_attach();
    test_commands();
    test_docs();
    test_status();
    return tap_done();
}
