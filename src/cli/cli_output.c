/*
 * Tables for people and for scripts, and JSON strings.
 */
#include "cli/cli_output.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/text.h"

void *cli_xalloc(size_t n) {
    void *p = calloc(1, n ? n : 1);
    if (!p) {
        fputs("gregor: out of memory\n", stderr);
        exit(1);
    }
    return p;
}

char *cli_xstrdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *p = cli_xalloc(n);
    memcpy(p, s, n);
    return p;
}

void cli_table_init(struct cli_table *t, int ncols, const char *const *headers) {
    memset(t, 0, sizeof(*t));
    t->ncols = ncols;
    t->headers = headers;
}

void cli_table_free(struct cli_table *t) {
    for (size_t i = 0; i < t->ncells; i++) free(t->cells[i]);
    free(t->cells);
    memset(t, 0, sizeof(*t));
}

void cli_table_cell(struct cli_table *t, const char *s) {
    if (t->ncells == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 64;
        char **cells = cli_xalloc(cap * sizeof(*cells));
        if (t->ncells) memcpy(cells, t->cells, t->ncells * sizeof(*cells));
        free(t->cells);
        t->cells = cells;
        t->cap = cap;
    }
    t->cells[t->ncells++] = s ? cli_xstrdup(s) : NULL;
}

void cli_table_cellf(struct cli_table *t, const char *fmt, ...) {
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    cli_table_cell(t, buf);
}

size_t cli_table_rows(const struct cli_table *t) {
    return t->ncells / (size_t)t->ncols;
}

static const char *header_text(const char *h) {
    return h[0] == '#' ? h + 1 : h;
}

static const char *cell_text(const char *cell) {
    return cell ? cell : "-";
}

static int is_numeric(const char *h) {
    return h[0] == '#';
}

/* qsort has no context argument; sorting is single-threaded. */
static const struct cli_table *sort_table;
static int sort_keys;

static int compare_rows(const void *a, const void *b) {
    char *const *ra = a;
    char *const *rb = b;
    for (int c = 0; c < sort_keys; c++) {
        int d;
        if (!ra[c] || !rb[c]) {
            d = (ra[c] != NULL) - (rb[c] != NULL);
        } else if (is_numeric(sort_table->headers[c])) {
            long long x = strtoll(ra[c], NULL, 10), y = strtoll(rb[c], NULL, 10);
            d = (x > y) - (x < y);
        } else {
            d = strcmp(ra[c], rb[c]);
        }
        if (d) return d;
    }
    return 0;
}

void cli_table_sort(struct cli_table *t, int keys) {
    size_t rows = cli_table_rows(t);
    size_t row_bytes = (size_t)t->ncols * sizeof(char *);
    if (rows < 2) return;
    /* Rows are sorted as blocks of ncols pointers. */
    char **tmp = cli_xalloc(rows * row_bytes);
    memcpy(tmp, t->cells, rows * row_bytes);
    sort_table = t;
    sort_keys = keys;
    qsort(tmp, rows, row_bytes, compare_rows);
    memcpy(t->cells, tmp, rows * row_bytes);
    free(tmp);
}

void cli_table_print(const struct cli_table *t, FILE *out) {
    size_t widths[64] = {0};
    int ncols = t->ncols < 64 ? t->ncols : 64;
    size_t rows = cli_table_rows(t);
    for (int c = 0; c < ncols; c++) widths[c] = strlen(header_text(t->headers[c]));
    for (size_t r = 0; r < rows; r++)
        for (int c = 0; c < ncols; c++) {
            size_t w = strlen(cell_text(t->cells[r * (size_t)t->ncols + (size_t)c]));
            if (w > widths[c]) widths[c] = w;
        }
    /* The last column is not padded, so lines carry no trailing blanks. */
    for (int c = 0; c < ncols; c++)
        fprintf(out, "%-*s%s", c + 1 < ncols ? (int)widths[c] : 0, header_text(t->headers[c]),
                c + 1 < ncols ? "  " : "\n");
    for (size_t r = 0; r < rows; r++)
        for (int c = 0; c < ncols; c++)
            fprintf(out, "%-*s%s", c + 1 < ncols ? (int)widths[c] : 0,
                    cell_text(t->cells[r * (size_t)t->ncols + (size_t)c]), c + 1 < ncols ? "  " : "\n");
}

static void json_key(FILE *out, const char *header) {
    fputc('"', out);
    for (const char *p = header_text(header); *p; p++)
        fputc(*p == '-' ? '_' : tolower((unsigned char)*p), out);
    fputs("\":", out);
}

void cli_table_json(const struct cli_table *t, FILE *out) {
    size_t rows = cli_table_rows(t);
    fputc('[', out);
    for (size_t r = 0; r < rows; r++) {
        fputs(r ? ",{" : "{", out);
        for (int c = 0; c < t->ncols; c++) {
            const char *v = t->cells[r * (size_t)t->ncols + (size_t)c];
            if (c) fputc(',', out);
            json_key(out, t->headers[c]);
            if (!v)
                fputs("null", out);
            else if (is_numeric(t->headers[c]))
                fputs(v, out);
            else
                cli_json_str(out, v);
        }
        fputc('}', out);
    }
    fputs("]", out);
}

static void file_sink(void *ctx, const void *bytes, size_t n) { fwrite(bytes, 1, n, ctx); }

void cli_json_strn(FILE *out, const char *s, size_t n) { json_string_write(file_sink, out, s, n); }

void cli_json_str(FILE *out, const char *s) {
    if (!s)
        fputs("null", out);
    else
        cli_json_strn(out, s, strlen(s));
}
