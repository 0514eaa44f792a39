/*
 * Builds an uncompressed magic v2 record batch in memory: the one batch
 * writer, used for the records the broker writes itself (the metadata
 * log, group offsets) and by tests and fuzz seeds. Client batches are
 * never rebuilt: they are stored as they came.
 *
 * The batch's baseTimestamp is the timestamp_ms given to init; records
 * carry it (batch_builder_add) or their own time as a delta from it
 * (batch_builder_add_at); maxTimestamp is the latest of them. Base offset
 * 0 (the log assigns it), no producer id, attributes 0 unless set.
 */
#ifndef GREGOR_PROTOCOL_BATCH_BUILDER_H
#define GREGOR_PROTOCOL_BATCH_BUILDER_H

#include <stdint.h>

#include "core/obuf.h"

struct batch_builder {
    struct obuf ob;       /* header space reserved, then the records */
    int32_t count;
    int64_t timestamp_ms; /* baseTimestamp, and the time of records added without one */
    int64_t max_timestamp;
    int16_t attributes;
};

void batch_builder_init(struct batch_builder *bb, size_t limit_bytes, int64_t timestamp_ms);
/* The header's attributes, e.g. RB_ATTR_CONTROL. -1 (and nothing set) if
 * they name a compression codec: the records are written uncompressed. */
int batch_builder_set_attributes(struct batch_builder *bb, int16_t attributes);
/* key_len / value_len -1 for null. 0, or -1 when the batch would pass its limit. */
int batch_builder_add(struct batch_builder *bb, const void *key, int32_t key_len, const void *value,
                      int32_t value_len);
/* batch_builder_add for a record with its own timestamp; also -1 when its
 * distance from the base timestamp does not fit in an int64. */
int batch_builder_add_at(struct batch_builder *bb, int64_t timestamp_ms, const void *key, int32_t key_len,
                         const void *value, int32_t value_len);
/* Fills in the header and CRC; the batch is bb->ob.data[0..bb->ob.len). 0 or -1. */
int batch_builder_finish(struct batch_builder *bb);
void batch_builder_free(struct batch_builder *bb);

#endif
