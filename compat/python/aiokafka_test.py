"""aiokafka against a kafe broker.

Usage: aiokafka_test.py BOOTSTRAP

Admin create/delete, acks 0/1/all, keys, headers, null values, the four codecs through cramjam, the
idempotent producer, and reading back with assign/seek, watermarks and offsets_for_times. Any
failure raises.
"""

import asyncio
import sys
import time

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

BOOTSTRAP = sys.argv[1]


def log(msg):
    print(f"aiokafka: {msg}", flush=True)


async def read_all(topic, expect, start=None):
    c = AIOKafkaConsumer(bootstrap_servers=BOOTSTRAP, enable_auto_commit=False, auto_offset_reset="earliest")
    await c.start()
    tp = TopicPartition(topic, 0)
    c.assign([tp])
    if start is None:
        await c.seek_to_beginning(tp)
    else:
        c.seek(tp, start)
    out = []
    deadline = time.time() + 20
    while len(out) < expect and time.time() < deadline:
        res = await c.getmany(tp, timeout_ms=500)
        out.extend(res.get(tp, []))
    await c.stop()
    return out


async def main():
    admin = AIOKafkaAdminClient(bootstrap_servers=BOOTSTRAP)
    await admin.start()
    await admin.create_topics([NewTopic("ak-main", num_partitions=1, replication_factor=1)])
    await admin.create_topics([NewTopic("ak-doomed", num_partitions=1, replication_factor=1)])
    await admin.delete_topics(["ak-doomed"])
    assert "ak-doomed" not in await admin.list_topics()
    log("admin: create and delete")

    sent = 0
    for acks in [0, 1, "all"]:
        p = AIOKafkaProducer(bootstrap_servers=BOOTSTRAP, acks=acks)
        await p.start()
        for i in range(10):
            md = await p.send_and_wait("ak-main", f"acks={acks} {i}".encode(), key=b"k", headers=[("h", b"v")])
            assert (md is None) if acks == 0 else md.offset == sent, md
            sent += 1
        await p.stop()
    p = AIOKafkaProducer(bootstrap_servers=BOOTSTRAP, enable_idempotence=True)
    await p.start()
    await p.send_and_wait("ak-main", None, key=b"tombstone")
    await p.stop()
    got = await read_all("ak-main", sent + 1)
    assert [r.offset for r in got] == list(range(sent + 1))
    assert got[0].headers == (("h", b"v"),), got[0].headers
    assert got[-1].value is None and got[-1].key == b"tombstone"
    log("acks 0/1/all, headers, idempotent producer, null value")

    for codec in ["gzip", "snappy", "lz4", "zstd"]:
        topic = f"ak-{codec}"
        await admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
        p = AIOKafkaProducer(bootstrap_servers=BOOTSTRAP, compression_type=codec, linger_ms=20)
        await p.start()
        t0 = int(time.time() * 1000) - 50_000
        futures = [await p.send(topic, f"{codec} {i}".encode() * 5, timestamp_ms=t0 + i) for i in range(200)]
        offsets = [(await f).offset for f in futures]
        assert offsets == list(range(200)), offsets[:5]
        await p.stop()
        got = await read_all(topic, 200)
        assert [r.value for r in got] == [f"{codec} {i}".encode() * 5 for i in range(200)], codec
        middle = await read_all(topic, 1, start=120)
        assert middle[0].offset == 120
        c = AIOKafkaConsumer(bootstrap_servers=BOOTSTRAP)
        await c.start()
        tp = TopicPartition(topic, 0)
        assert (await c.end_offsets([tp]))[tp] == 200
        found = (await c.offsets_for_times({tp: t0 + 77}))[tp]
        assert found.offset == 77, found
        await c.stop()
    log("gzip, snappy, lz4, zstd round trips; seek into a batch; watermarks; offsets_for_times")
    await admin.close()


asyncio.run(main())
