/*
 * Output of the `gregor` client commands: a table printed either aligned
 * for people or as a JSON array of objects for scripts (one description,
 * two renderings, so both formats always carry the same numbers), and the
 * JSON string writer.
 *
 * A column header starting with '#' holds numbers: JSON gets them
 * unquoted. A NULL cell (no value) prints "-" in the table, null in JSON. JSON keys are the headers in
 * lower case with '-' turned into '_' ("LOG-END-OFFSET" -> log_end_offset).
 */
#ifndef GREGOR_CLI_OUTPUT_H
#define GREGOR_CLI_OUTPUT_H

#include <stddef.h>
#include <stdio.h>

struct cli_table {
    int ncols;
    const char *const *headers;
    size_t ncells, cap;
    char **cells;  /* row-major, owned */
};

void cli_table_init(struct cli_table *t, int ncols, const char *const *headers);
void cli_table_free(struct cli_table *t);
/* Appends the next cell (NULL: no value); rows fill left to right. */
void cli_table_cell(struct cli_table *t, const char *s);
void cli_table_cellf(struct cli_table *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
size_t cli_table_rows(const struct cli_table *t);
/* Sorts the rows by the text of the first `keys` columns, numeric columns
 * numerically. */
void cli_table_sort(struct cli_table *t, int keys);
void cli_table_print(const struct cli_table *t, FILE *out);
void cli_table_json(const struct cli_table *t, FILE *out);

/* A JSON string of n bytes, escaped by core/text.h's json_string_write. */
void cli_json_strn(FILE *out, const char *s, size_t n);
void cli_json_str(FILE *out, const char *s);  /* NULL prints null */

/* Allocation that exits the process on failure: these are short-lived
 * client commands where there is nothing better to do. */
void *cli_xalloc(size_t n);
char *cli_xstrdup(const char *s);

#endif
