"""Crash loop: an idempotent acks=all producer (confluent-kafka) writes
continuously while the broker is kill -9'ed and restarted at random
moments (5 times here, 20+ with --soak). Meanwhile a kafka-python consumer
group consumes and commits offsets whenever the broker is up.

Afterwards, read back by kafka-python (CRC-checked):
- every acknowledged message is in the log exactly once, at the offset it
  was acknowledged with, and each partition holds increasing sequence
  numbers (the idempotent producer's retries across crashes never
  duplicate);
- every acknowledged offset commit survived, and no committed offset
  points past the log end.
"""

import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from clients import create_topic, health_check, unique_topic  # noqa: E402
from faults import Committer, ContinuousProducer, check_exactly_once, committed_offsets, read_log_kafka_python  # noqa: E402
from harness import Broker, main, test, wait_for  # noqa: E402

SOAK = "--soak" in sys.argv
if SOAK:
    sys.argv.remove("--soak")
KILLS = int(os.environ.get("CRASH_LOOP_KILLS", 25 if SOAK else 5))
PARTITIONS = 3


@test(timeout=1800)
def idempotent_producer_and_group_survive_kill9_loop():
    rng = random.Random(int(os.environ.get("CRASH_LOOP_SEED", time.time())))
    with Broker(overrides={"log.segment.bytes": 65536, "num.partitions": PARTITIONS,
                           "offsets.topic.num.partitions": 2}) as b:
        topic = create_topic(b.bootstrap, unique_topic("crash"), PARTITIONS)
        prod = ContinuousProducer(b.bootstrap, topic, PARTITIONS, value_bytes=120, rate_pause_s=0.0005)
        group = unique_topic("crash-group")
        committer = Committer(b.bootstrap, topic, group, PARTITIONS)
        try:
            for k in range(KILLS):
                committer.round(rng.uniform(0.5, 2.5))
                before = prod.acked_count()
                b.kill9()
                time.sleep(rng.uniform(0, 0.5))
                b.start()
                wait_for(lambda: prod.acked_count() > before, timeout=90, what="acks after restart %d" % (k + 1))
                print("  kill %d: %d acked so far, %d commits (%d failed attempts)"
                      % (k + 1, prod.acked_count(), committer.commits, committer.failures), flush=True)
            committer.round(2.0)
        finally:
            committer.close()
            left = prod.stop(flush_timeout=150)
        assert left == 0, "%d deliveries never reported" % left
        assert not prod.errors, "producer errors: %s" % prod.errors[:5]
        log = read_log_kafka_python(b.bootstrap, topic, PARTITIONS)
        extra = check_exactly_once(prod.acked, log)
        total = prod.acked_count()
        print("  %d kills: all %d acknowledged messages present exactly once, in order; %d unacked present"
              % (KILLS, total, extra), flush=True)
        ends = {p: (log[p][-1][0] + 1 if log[p] else 0) for p in range(PARTITIONS)}
        committed = committed_offsets(b.bootstrap, topic, group, PARTITIONS)
        for p in range(PARTITIONS):
            assert committed[p] <= ends[p], "partition %d: committed %d past log end %d" % (p, committed[p], ends[p])
            if p in committer.acked:
                assert committed[p] >= committer.acked[p], \
                    "partition %d: acknowledged commit %d lost (now %d)" % (p, committer.acked[p], committed[p])
        print("  committed offsets %s within log ends %s" % (committed, ends), flush=True)
        health_check(b.bootstrap)


if __name__ == "__main__":
    main()
