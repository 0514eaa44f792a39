"""confluent_kafka helpers shared by the integration tests: create a topic,
produce with delivery tracking, read partitions back to their high
watermark, and a quick "the broker still serves clients" check. Every
call has a timeout."""

import time
import uuid

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

# Quiet librdkafka's own logging unless a test asks for it; failures come
# back through errors and delivery reports, which the tests check.
BASE_CONF = {"log_level": 3}


def unique_topic(prefix="t"):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:10])


def admin(bootstrap, **conf):
    return AdminClient(dict(BASE_CONF, **{"bootstrap.servers": bootstrap}, **conf))


def create_topic(bootstrap, name, partitions=1, config=None, timeout=30):
    a = admin(bootstrap)
    fs = a.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1, config=config or {})],
                         operation_timeout=timeout, request_timeout=timeout)
    fs[name].result(timeout=timeout)
    wait_topic_visible(a, name, partitions, timeout)
    return name


def wait_topic_visible(a, name, partitions, timeout=30):
    """Metadata shows the topic with all its partitions led (after create or restart)."""
    deadline = time.monotonic() + timeout
    while True:
        md = a.list_topics(topic=name, timeout=10)
        t = md.topics.get(name)
        if t is not None and t.error is None and len(t.partitions) == partitions and \
                all(p.leader >= 0 for p in t.partitions.values()):
            return t
        if time.monotonic() > deadline:
            raise AssertionError("topic %s not visible with %d partitions: %r" % (name, partitions, t))
        time.sleep(0.2)


def producer(bootstrap, **conf):
    c = dict(BASE_CONF, **{"bootstrap.servers": bootstrap, "linger.ms": 5})
    c.update(conf)
    return Producer(c)


class Deliveries:
    """Collects delivery reports: (partition, offset, value) of successes, errors of failures."""

    def __init__(self):
        self.ok = []
        self.errors = []

    def __call__(self, err, msg):
        if err is not None:
            self.errors.append((err, msg.value()))
        else:
            self.ok.append((msg.partition(), msg.offset(), msg.value()))


def produce_all(p, topic, messages, timeout=120):
    """messages: iterable of dicts with value and optionally key, headers,
    partition, timestamp. Returns the Deliveries once all are reported."""
    d = Deliveries()
    for m in messages:
        kw = dict(m)
        while True:
            try:
                p.produce(topic, on_delivery=d, **kw)
                break
            except BufferError:  # local queue full: let deliveries drain
                p.poll(0.1)
        p.poll(0)
    left = p.flush(timeout)
    if left:
        raise AssertionError("%d messages still undelivered after %ds" % (left, timeout))
    return d


def consumer(bootstrap, **conf):
    c = dict(BASE_CONF, **{
        "bootstrap.servers": bootstrap,
        "group.id": "it-" + uuid.uuid4().hex[:8],
        "enable.auto.commit": False,
        "enable.partition.eof": False,
    })
    c.update(conf)
    return Consumer(c)


def read_partitions(bootstrap, topic, partitions, timeout=120, **conf):
    """Reads each partition from its log start to its high watermark (as it
    is when called). Returns {partition: [Message, ...]}."""
    c = consumer(bootstrap, **conf)
    try:
        ends = {}
        for p in range(partitions):
            low, high = c.get_watermark_offsets(TopicPartition(topic, p), timeout=30, cached=False)
            ends[p] = high
        out = {p: [] for p in range(partitions)}
        todo = {p for p in range(partitions) if ends[p] > 0}
        if not todo:
            return out
        c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in sorted(todo)])
        deadline = time.monotonic() + timeout
        while todo:
            if time.monotonic() > deadline:
                raise AssertionError("reading %s timed out; still missing partitions %s (have %s of %s)"
                                     % (topic, sorted(todo), {p: len(out[p]) for p in todo}, ends))
            for m in c.consume(num_messages=1000, timeout=1.0):
                if m.error():
                    if m.error().code() == KafkaError._PARTITION_EOF:
                        continue
                    raise KafkaException(m.error())
                p = m.partition()
                out[p].append(m)
                if m.offset() >= ends[p] - 1:
                    todo.discard(p)
        return out
    finally:
        c.close()


def kp_read_to_end(c, tps, timeout_s=60):
    """kafka-python: with consumer c, {partition: [ConsumerRecord]} of the
    TopicPartitions tps from the log start to the end each has now."""
    ends = c.end_offsets(tps)
    c.assign(tps)
    c.seek_to_beginning(*tps)
    out = {tp.partition: [] for tp in tps}
    todo = {tp for tp in tps if ends[tp] > 0}
    deadline = time.monotonic() + timeout_s
    while todo:
        assert time.monotonic() < deadline, "kafka-python read timed out; missing %s" % sorted(todo)
        for tp, recs in c.poll(timeout_ms=1000).items():
            out[tp.partition].extend(recs)
            if recs and recs[-1].offset >= ends[tp] - 1:
                todo.discard(tp)
    return out


def health_check(bootstrap, timeout=60):
    """A fresh producer and consumer can still round-trip a message."""
    topic = unique_topic("health")
    create_topic(bootstrap, topic, 1, timeout=timeout)
    p = producer(bootstrap, **{"acks": "all"})
    d = produce_all(p, topic, [{"key": b"k", "value": b"alive"}], timeout=timeout)
    assert not d.errors, d.errors
    got = read_partitions(bootstrap, topic, 1, timeout=timeout)
    values = [m.value() for m in got[0]]
    assert values == [b"alive"], values
