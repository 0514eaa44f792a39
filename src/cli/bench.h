/*
 * `gregor bench`: a Kafka client benchmark built on librdkafka. The entry
 * point is bench_main(); bench_internal.h has what its files share.
 */
#ifndef GREGOR_CLI_BENCH_H
#define GREGOR_CLI_BENCH_H

#include <stdio.h>

/* argv[0] is the first argument after "bench". Returns the exit status. */
int bench_main(int argc, char **argv);
/* The --help text (also rendered into docs/CLI.md). */
void bench_usage(FILE *out);

#endif
