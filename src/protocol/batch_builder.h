/*
 * Builds an uncompressed magic v2 record batch in memory, for the records
 * the broker writes itself (the metadata log, group offsets). Client
 * batches are never rebuilt: they are stored as they came.
 */
#ifndef GREGOR_PROTOCOL_BATCH_BUILDER_H
#define GREGOR_PROTOCOL_BATCH_BUILDER_H

#include <stdint.h>

#include "core/obuf.h"

struct batch_builder {
    struct obuf ob;       /* header space reserved, then the records */
    int32_t count;
    int64_t timestamp_ms; /* every record gets this time (delta 0) */
};

void batch_builder_init(struct batch_builder *bb, size_t limit_bytes, int64_t timestamp_ms);
/* key_len / value_len -1 for null. 0, or -1 when the batch would pass its limit. */
int batch_builder_add(struct batch_builder *bb, const void *key, int32_t key_len, const void *value,
                      int32_t value_len);
/* Fills in the header and CRC; the batch is bb->ob.data[0..bb->ob.len).
 * Base offset 0 (the log assigns it), no producer id. 0 or -1. */
int batch_builder_finish(struct batch_builder *bb);
void batch_builder_free(struct batch_builder *bb);

#endif
