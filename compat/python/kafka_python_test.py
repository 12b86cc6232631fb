"""kafka-python against a kafe broker.

Usage: kafka_python_test.py BOOTSTRAP

Admin create/delete, the idempotent producer (kafka-python's default) with acks 0/1/all, keys,
headers, null keys and values, the four codecs, and reading back from the beginning, an offset and a
timestamp with watermarks. Any failure raises.
"""

import sys
import time

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError

BOOTSTRAP = sys.argv[1]


def log(msg):
    print(f"kafka-python: {msg}", flush=True)


def read_all(topic, partition=0, start=None, expect=None):
    c = KafkaConsumer(bootstrap_servers=BOOTSTRAP, enable_auto_commit=False, consumer_timeout_ms=3000,
                      auto_offset_reset="earliest")
    tp = TopicPartition(topic, partition)
    c.assign([tp])
    if start is None:
        c.seek_to_beginning(tp)
    else:
        c.seek(tp, start)
    out = []
    deadline = time.time() + 20
    while time.time() < deadline and (expect is None or len(out) < expect):
        batch = c.poll(timeout_ms=500)
        for records in batch.values():
            out.extend(records)
        if expect is None and not batch:
            break
    c.close()
    return out


admin = KafkaAdminClient(bootstrap_servers=BOOTSTRAP)
admin.create_topics([NewTopic("kp-main", num_partitions=2, replication_factor=1)])
try:
    admin.create_topics([NewTopic("kp-main", num_partitions=2, replication_factor=1)])
    raise AssertionError("duplicate topic creation succeeded")
except TopicAlreadyExistsError:
    pass
admin.create_topics([NewTopic("kp-doomed", num_partitions=1, replication_factor=1)])
admin.delete_topics(["kp-doomed"])
assert "kp-doomed" not in admin.list_topics()
log("admin: create, duplicate refused, delete")

for acks in [0, 1, "all"]:
    p = KafkaProducer(bootstrap_servers=BOOTSTRAP, acks=acks, linger_ms=5)
    futures = [p.send("kp-main", key=f"k{i % 3}".encode(), value=f"acks={acks} {i}".encode()) for i in range(20)]
    p.flush()
    metas = [f.get(timeout=10) for f in futures]
    parts = {}
    for i, m in enumerate(metas):
        parts.setdefault(i % 3, set()).add(m.partition)
    assert all(len(s) == 1 for s in parts.values()), parts
    p.close()
total = len(read_all("kp-main", 0)) + len(read_all("kp-main", 1))
assert total == 60, total
log("acks 0/1/all with keys; same key, same partition")

admin.create_topics([NewTopic("kp-shapes", num_partitions=1, replication_factor=1)])
p = KafkaProducer(bootstrap_servers=BOOTSTRAP, acks="all")
sent = [(b"k", b"v", [("h", b"x")]), (None, b"no key", []), (b"tomb", None, []), (None, b"", [("e", b"")])]
for key, value, headers in sent:
    p.send("kp-shapes", key=key, value=value, headers=headers)
p.flush()
p.close()
got = read_all("kp-shapes", expect=4)
assert [(r.key, r.value, list(r.headers)) for r in got] == [(k, v, h) for k, v, h in sent], got
log("headers, null keys and null values")

for codec in ["gzip", "snappy", "lz4", "zstd"]:
    topic = f"kp-{codec}"
    admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    p = KafkaProducer(bootstrap_servers=BOOTSTRAP, compression_type=codec, acks="all", linger_ms=20)
    t0 = int(time.time() * 1000) - 50_000
    futures = [p.send(topic, value=f"{codec} {i} ".encode() * 10, timestamp_ms=t0 + i) for i in range(300)]
    p.flush()
    offsets = [f.get(timeout=10).offset for f in futures]
    assert offsets == list(range(300)), offsets[:5]
    p.close()
    got = read_all(topic, expect=300)
    assert [r.value for r in got] == [f"{codec} {i} ".encode() * 10 for i in range(300)], codec
    middle = read_all(topic, start=150, expect=1)
    assert middle[0].offset == 150, middle[0].offset
    c = KafkaConsumer(bootstrap_servers=BOOTSTRAP)
    tp = TopicPartition(topic, 0)
    assert c.beginning_offsets([tp])[tp] == 0
    assert c.end_offsets([tp])[tp] == 300
    found = c.offsets_for_times({tp: t0 + 42})[tp]
    assert found.offset == 42 and found.timestamp == t0 + 42, found
    c.close()
log("gzip, snappy, lz4, zstd round trips; seek into a batch; watermarks; offsets_for_times")

c = KafkaConsumer("kp-gzip", bootstrap_servers=BOOTSTRAP, group_id="kp-group", auto_offset_reset="earliest",
                  enable_auto_commit=False, consumer_timeout_ms=10000)
values = []
for record in c:
    values.append(record.value)
    if len(values) == 300:
        break
c.commit()
tp = TopicPartition("kp-gzip", 0)
assert c.committed(tp) == 300, c.committed(tp)
c.close()
assert len(values) == 300
groups = [g["group_id"] for g in admin.list_groups()]
assert "kp-group" in groups, groups
offsets = admin.list_group_offsets({"kp-group": None})["kp-group"]
assert offsets[tp].offset == 300, offsets
described = admin.describe_groups(["kp-group"])["kp-group"]
assert (described["group_state"], described["protocol_type"]) == ("Empty", "consumer"), described
admin.delete_group_offsets("kp-group", [tp])
assert admin.list_group_offsets({"kp-group": None})["kp-group"] == {}, "OffsetDelete left the offset"
admin.delete_groups(["kp-group"])
assert "kp-group" not in [g["group_id"] for g in admin.list_groups()]
log("group consumer: subscribe, consume, commit, committed; admin lists, describes, deletes offsets and the group")
admin.close()
