"""confluent-kafka (librdkafka) against a kafe broker.

Usage: confluent_kafka_test.py BOOTSTRAP produce|verify STATE_FILE

`produce` runs every scenario (admin, acks 0/1/all, keys and partitioner, headers, null keys and
values, the four codecs, a 900 kB record and a too-large one, consuming from the beginning, the end, a
timestamp and the middle of a batch, watermarks, long-poll wake-up, the idempotent producer) and
writes what it acknowledged to STATE_FILE. `verify` (run after the broker restarts) reads every
acknowledged record back and compares. Any failure raises; the exit code tells the test harness.
"""

import json
import sys
import threading
import time

from confluent_kafka import (OFFSET_BEGINNING, OFFSET_END, Consumer, KafkaError, KafkaException, Producer,
                             TopicPartition)
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic

BOOTSTRAP, PHASE, STATE = sys.argv[1], sys.argv[2], sys.argv[3]
BASE = {"bootstrap.servers": BOOTSTRAP}
CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]


def log(msg):
    print(f"confluent-kafka: {msg}", flush=True)


_ADMIN = None


def admin():
    # One client for the whole run: futures fail if their client is destroyed first.
    global _ADMIN
    if _ADMIN is None:
        _ADMIN = AdminClient(dict(BASE))
    return _ADMIN


def create(topic, partitions, config=None):
    futures = admin().create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1,
                                              config=config or {})], operation_timeout=10)
    futures[topic].result(timeout=15)


def producer(**extra):
    return Producer({**BASE, "linger.ms": 5, **extra})


def produce_all(p, topic, records):
    """records: list of dicts with key/value/headers/partition/timestamp. Returns delivery results."""
    results = [None] * len(records)

    def done(i):
        def cb(err, msg):
            results[i] = (err, msg.partition(), msg.offset())
        return cb

    for i, r in enumerate(records):
        kwargs = {k: r[k] for k in ("key", "value", "headers", "partition", "timestamp") if k in r}
        p.produce(topic, on_delivery=done(i), **kwargs)
    remaining = p.flush(30)
    assert remaining == 0, f"{remaining} messages not delivered"
    return results


def consumer(**extra):
    return Consumer({**BASE, "group.id": "compat-unused", "enable.auto.commit": False,
                     "enable.partition.eof": True, "auto.offset.reset": "earliest", **extra})


def read(topic, partition, start, count=None, timeout=20, **extra):
    """Reads from `start` until partition EOF (or `count` records)."""
    c = consumer(**extra)
    c.assign([TopicPartition(topic, partition, start)])
    out = []
    deadline = time.time() + timeout
    try:
        while time.time() < deadline:
            m = c.poll(1.0)
            if m is None:
                continue
            if m.error():
                if m.error().code() == KafkaError._PARTITION_EOF:
                    break
                raise KafkaException(m.error())
            out.append(m)
            if count is not None and len(out) >= count:
                break
        else:
            raise AssertionError(f"timed out reading {topic}[{partition}] from {start}")
    finally:
        c.close()
    return out


def as_state(msgs):
    return [[m.offset(), m.key().decode("latin1") if m.key() is not None else None,
             m.value().decode("latin1") if m.value() is not None else None,
             [[k, v.decode("latin1") if v is not None else None] for k, v in (m.headers() or [])]]
            for m in msgs]


def scenario_admin(state):
    create("ck-admin", 2, {"retention.ms": "3600000"})
    try:
        create("ck-admin", 2)
        raise AssertionError("creating an existing topic succeeded")
    except KafkaException as e:
        assert e.args[0].code() == KafkaError.TOPIC_ALREADY_EXISTS, e
    md = admin().list_topics(timeout=10)
    assert "ck-admin" in md.topics and len(md.topics["ck-admin"].partitions) == 2
    assert md.controller_id == 0 and 0 in md.brokers
    res = ConfigResource(ConfigResource.Type.TOPIC, "ck-admin")
    configs = admin().describe_configs([res])[res].result(timeout=10)
    assert configs["retention.ms"].value == "3600000", configs["retention.ms"]
    create("ck-doomed", 1)
    admin().delete_topics(["ck-doomed"], operation_timeout=10)["ck-doomed"].result(timeout=15)
    time.sleep(0.5)
    assert "ck-doomed" not in admin().list_topics(timeout=10).topics
    log("admin: create, duplicate, describe configs, delete")


def scenario_acks_keys_headers_nulls(state):
    create("ck-acks", 3)
    for acks in ["0", "1", "all"]:
        p = producer(acks=acks, **({"enable.idempotence": False} if acks != "all" else {}))
        recs = [{"key": f"key-{i % 5}".encode(), "value": f"acks={acks} #{i}".encode()} for i in range(30)]
        results = produce_all(p, "ck-acks", recs)
        assert all(err is None for err, _, _ in results), results
        by_key = {}
        for r, (_, part, off) in zip(recs, results):
            by_key.setdefault(r["key"], set()).add(part)
            if acks == "0":
                assert off is None or off < 0, "acks=0 cannot know offsets"
            else:
                assert off >= 0
        assert all(len(parts) == 1 for parts in by_key.values()), f"a key went to several partitions: {by_key}"
    total = 0
    for part in range(3):
        total += len(read("ck-acks", part, OFFSET_BEGINNING))
    assert total == 90, total
    create("ck-shapes", 1)
    recs = [
        {"key": b"k1", "value": b"v1", "headers": [("h1", b"a"), ("h2", b"b")]},
        {"key": None, "value": b"no key"},
        {"key": b"tombstone", "value": None},
        {"key": None, "value": None, "headers": [("only", None)]},
        {"key": b"", "value": b""},
    ]
    produce_all(producer(acks="all"), "ck-shapes", recs)
    got = read("ck-shapes", 0, OFFSET_BEGINNING)
    assert [m.key() for m in got] == [r["key"] for r in recs], [m.key() for m in got]
    assert [m.value() for m in got] == [r["value"] for r in recs]
    assert got[0].headers() == [("h1", b"a"), ("h2", b"b")], got[0].headers()
    assert got[3].headers() == [("only", None)], got[3].headers()
    state["ck-shapes"] = as_state(got)
    log("acks 0/1/all, key partitioning, headers, null keys and values")


def scenario_codecs(state):
    for codec in CODECS:
        topic = f"ck-codec-{codec}"
        create(topic, 1)
        recs = [{"key": f"k{i}".encode(), "value": (f"{codec} record {i} " * 20).encode()} for i in range(500)]
        results = produce_all(producer(**{"compression.type": codec, "acks": "all"}), topic, recs)
        assert [off for _, _, off in results] == list(range(500)), "offsets are not dense"
        got = read(topic, 0, OFFSET_BEGINNING)
        assert [m.value() for m in got] == [r["value"] for r in recs], f"{codec}: values differ"
        assert [m.offset() for m in got] == list(range(500))
        state[topic] = as_state(got)
        # Start in the middle of a (compressed) batch: the client drops the records before it.
        middle = read(topic, 0, 250, count=5)
        assert [m.offset() for m in middle] == [250, 251, 252, 253, 254], [m.offset() for m in middle]
    log("gzip, snappy, lz4, zstd and none round trip; reads from the middle of a batch")


def scenario_sizes(state):
    create("ck-big", 1)
    big = bytes(range(256)) * 3600  # 921,600 bytes
    results = produce_all(producer(acks="all"), "ck-big", [{"value": big}])
    assert results[0][0] is None, results
    got = read("ck-big", 0, OFFSET_BEGINNING)
    assert len(got) == 1 and got[0].value() == big
    huge = b"x" * 2_000_000
    results = produce_all(producer(acks="all", **{"message.max.bytes": 3_000_000}), "ck-big", [{"value": huge}])
    err = results[0][0]
    assert err is not None and err.code() == KafkaError.MSG_SIZE_TOO_LARGE, err
    state["ck-big"] = [[0, None, f"{len(big)} bytes", []]]
    log("900 kB record accepted; 2 MB record refused with MSG_SIZE_TOO_LARGE")


def scenario_offsets_and_time(state):
    create("ck-time", 1)
    t0 = int(time.time() * 1000) - 100_000
    recs = [{"value": f"t{i}".encode(), "timestamp": t0 + i * 1000} for i in range(20)]
    produce_all(producer(acks="all"), "ck-time", recs)
    c = consumer()
    lo, hi = c.get_watermark_offsets(TopicPartition("ck-time", 0), timeout=10, cached=False)
    assert (lo, hi) == (0, 20), (lo, hi)
    [tp] = c.offsets_for_times([TopicPartition("ck-time", 0, t0 + 7500)], timeout=10)
    assert tp.offset == 8, tp
    [tp] = c.offsets_for_times([TopicPartition("ck-time", 0, t0 + 10_000_000)], timeout=10)
    assert tp.offset in (-1, 20), tp  # no such record: end of log
    c.close()
    got = read("ck-time", 0, 8, count=1)
    assert got[0].value() == b"t8" and got[0].timestamp()[1] == t0 + 8000
    # From the end: nothing until something new arrives.
    c = consumer()
    c.assign([TopicPartition("ck-time", 0, OFFSET_END)])
    m = c.poll(2.0)
    assert m is None or (m.error() and m.error().code() == KafkaError._PARTITION_EOF), m
    produce_all(producer(acks="all"), "ck-time", [{"value": b"after end"}])
    deadline = time.time() + 10
    seen = None
    while time.time() < deadline and seen is None:
        m = c.poll(1.0)
        if m is not None and not m.error():
            seen = m
    c.close()
    assert seen is not None and seen.value() == b"after end" and seen.offset() == 20
    state["ck-time"] = as_state(read("ck-time", 0, OFFSET_BEGINNING))
    log("watermarks, offsets_for_times, consume from a timestamp and from the end")


def scenario_long_poll(state):
    create("ck-poll", 1)
    c = consumer(**{"fetch.wait.max.ms": 10000, "fetch.min.bytes": 1})
    c.assign([TopicPartition("ck-poll", 0, OFFSET_END)])
    c.poll(1.0)  # let the first fetch start waiting
    arrived = {}

    def wait():
        deadline = time.time() + 15
        while time.time() < deadline:
            m = c.poll(0.1)
            if m is not None and not m.error():
                arrived["t"] = time.time()
                return

    t = threading.Thread(target=wait)
    t.start()
    time.sleep(1.0)
    sent = time.time()
    produce_all(producer(acks="1"), "ck-poll", [{"value": b"wake up"}])
    t.join()
    c.close()
    assert "t" in arrived, "the waiting consumer never got the record"
    latency = arrived["t"] - sent
    assert latency < 2.0, f"long poll woke after {latency:.2f}s (fetch.wait.max.ms is 10s)"
    log(f"long poll woke {latency * 1000:.0f} ms after the produce")


def scenario_idempotence(state):
    create("ck-idem", 1)
    p = producer(**{"enable.idempotence": True, "acks": "all", "max.in.flight.requests.per.connection": 5})
    recs = [{"value": f"idempotent {i}".encode()} for i in range(2000)]
    results = produce_all(p, "ck-idem", recs)
    assert [off for _, _, off in results] == list(range(2000))
    got = read("ck-idem", 0, OFFSET_BEGINNING)
    assert [m.value() for m in got] == [r["value"] for r in recs]
    state["ck-idem"] = as_state(got)
    log("idempotent producer: 2000 records, dense offsets, no duplicates")


def produce_phase():
    state = {}
    for scenario in [scenario_admin, scenario_acks_keys_headers_nulls, scenario_codecs, scenario_sizes,
                     scenario_offsets_and_time, scenario_long_poll, scenario_idempotence]:
        scenario(state)
    with open(STATE, "w") as f:
        json.dump(state, f)


def verify_phase():
    with open(STATE) as f:
        state = json.load(f)
    for topic, expected in state.items():
        got = read(topic, 0, OFFSET_BEGINNING)
        if topic == "ck-big":
            assert len(got) == 1 and len(got[0].value()) == 921_600
            continue
        assert as_state(got) == expected, f"{topic}: records differ after the restart"
    log(f"after the restart: {sum(len(v) for v in state.values())} acknowledged records read back")


produce_phase() if PHASE == "produce" else verify_phase()
