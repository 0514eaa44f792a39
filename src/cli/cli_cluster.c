/*
 * `gregor cluster info`: cluster id, controller, brokers and counts, from
 * Metadata (librdkafka 2.0 has no DescribeCluster call).
 */
#include <stdlib.h>
#include <string.h>

#include "cli/cli_common.h"
#include "cli/cli_output.h"

static int cluster_info(struct cli_ctx *ctx, int argc, char **argv) {
    static const struct option opts[] = {CLI_COMMON_OPTIONS};
    int c;
    while ((c = getopt_long(argc, argv, CLI_COMMON_SHORT, opts, NULL)) != -1) {
        int r = cli_common_option(ctx, c, optarg);
        if (r >= CLI_STOP) return r - CLI_STOP;
    }
    if (optind < argc) return cli_usage_error(ctx, "unexpected argument \"%s\"", argv[optind]);
    int rc;
    rd_kafka_t *rk = cli_admin_connect(ctx, &rc);
    if (!rk) return rc;
    const struct rd_kafka_metadata *md;
    rc = cli_metadata(ctx, rk, NULL, 0, &md);
    if (rc != CLI_EXIT_OK) {
        rd_kafka_destroy(rk);
        return rc;
    }
    char *cluster_id = rd_kafka_clusterid(rk, ctx->timeout_ms);
    int32_t controller = rd_kafka_controllerid(rk, ctx->timeout_ms);
    long partitions = 0;
    int topics = 0;
    for (int i = 0; i < md->topic_cnt; i++) {
        if (md->topics[i].err) continue;
        topics++;
        partitions += md->topics[i].partition_cnt;
    }
    static const char *const headers[] = {"#ID", "HOST", "#PORT", "CONTROLLER"};
    struct cli_table brokers;
    cli_table_init(&brokers, 4, headers);
    for (int i = 0; i < md->broker_cnt; i++) {
        cli_table_cellf(&brokers, "%d", md->brokers[i].id);
        cli_table_cell(&brokers, md->brokers[i].host);
        cli_table_cellf(&brokers, "%d", md->brokers[i].port);
        cli_table_cell(&brokers, md->brokers[i].id == controller ? "yes" : "no");
    }
    cli_table_sort(&brokers, 1);
    if (ctx->format == CLI_FORMAT_JSON) {
        printf("{\"cluster_id\":");
        cli_json_str(stdout, cluster_id);
        printf(",\"controller_id\":%d,\"topics\":%d,\"partitions\":%ld,\"brokers\":", controller, topics,
               partitions);
        cli_table_json(&brokers, stdout);
        printf("}\n");
    } else {
        printf("cluster id:  %s\ncontroller:  %d\ntopics:      %d\npartitions:  %ld\n\n",
               cluster_id ? cluster_id : "-", controller, topics, partitions);
        cli_table_print(&brokers, stdout);
    }
    cli_table_free(&brokers);
    if (cluster_id) rd_kafka_mem_free(rk, cluster_id);
    rd_kafka_metadata_destroy(md);
    rd_kafka_destroy(rk);
    return CLI_EXIT_OK;
}

const struct cli_command cli_cluster_commands[] = {
    {"cluster info", "[options]", "show the cluster id, controller, brokers and counts",
     "", cluster_info},
    {0, 0, 0, 0, 0},
};
