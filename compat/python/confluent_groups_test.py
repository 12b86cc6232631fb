"""Consumer groups with confluent-kafka (librdkafka) against a kafe broker.

Usage:
  confluent_groups_test.py BOOTSTRAP rebalance STRATEGY   members split partitions, take over on close and kill
  confluent_groups_test.py BOOTSTRAP offsets STATE_FILE    commits, committed(), resume, two groups, admin
  confluent_groups_test.py BOOTSTRAP verify STATE_FILE     after a broker restart: offsets and rejoin survive
  confluent_groups_test.py BOOTSTRAP worker GROUP TOPIC STRATEGY   (internal: one group member process)

Each group member runs in its own process, so one can be killed without a LeaveGroup. Any failure
raises; the exit code tells the test harness.
"""

import json
import os
import select
import signal
import subprocess
import sys
import time

from confluent_kafka import ConsumerGroupTopicPartitions, Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

BOOTSTRAP, MODE = sys.argv[1], sys.argv[2]
PARTITIONS = 6


def log(msg):
    print(f"confluent-groups: {msg}", flush=True)


def admin():
    global _ADMIN
    try:
        return _ADMIN
    except NameError:
        _ADMIN = AdminClient({"bootstrap.servers": BOOTSTRAP})
        return _ADMIN


def create(topic, partitions):
    admin().create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)])[topic].result(15)


def produce(topic, per_partition):
    p = Producer({"bootstrap.servers": BOOTSTRAP, "linger.ms": 5})
    for part in range(PARTITIONS):
        for i in range(per_partition):
            p.produce(topic, value=f"{part}:{i}".encode(), partition=part)
    assert p.flush(30) == 0


def consumer(group, strategy="range", **extra):
    return Consumer({
        "bootstrap.servers": BOOTSTRAP, "group.id": group, "auto.offset.reset": "earliest",
        "partition.assignment.strategy": strategy, "session.timeout.ms": 6000,
        "heartbeat.interval.ms": 500, "enable.auto.commit": False, **extra,
    })


def worker(group, topic, strategy):
    """A group member that reports its assignment on stdout and exits on 'quit' (closing cleanly)."""
    assigned = set()

    def on_assign(c, partitions):
        assigned.update(p.partition for p in partitions)
        if strategy == "cooperative-sticky":
            c.incremental_assign(partitions)
        print(json.dumps(sorted(assigned)), flush=True)

    def on_revoke(c, partitions):
        assigned.difference_update(p.partition for p in partitions)
        if strategy == "cooperative-sticky":
            c.incremental_unassign(partitions)
        print(json.dumps(sorted(assigned)), flush=True)

    c = consumer(group, strategy)
    c.subscribe([topic], on_assign=on_assign, on_revoke=on_revoke, on_lost=on_revoke)
    while True:
        m = c.poll(0.1)
        if m is not None and m.error() and m.error().code() != KafkaError._PARTITION_EOF:
            print(json.dumps({"error": str(m.error())}), flush=True)
        if select.select([sys.stdin], [], [], 0)[0]:
            if sys.stdin.readline().strip() == "quit":
                c.close()
                return


class Member:
    def __init__(self, group, topic, strategy):
        self.proc = subprocess.Popen([sys.executable, __file__, BOOTSTRAP, "worker", group, topic, strategy],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        os.set_blocking(self.proc.stdout.fileno(), False)
        self.assigned = []

    def poll(self):
        while True:
            line = self.proc.stdout.readline()
            if not line:
                return self.assigned
            msg = json.loads(line)
            if isinstance(msg, dict):
                raise AssertionError(f"member error: {msg}")
            self.assigned = msg

    def close(self):
        self.proc.stdin.write("quit\n")
        self.proc.stdin.flush()
        self.proc.wait(20)

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)


def wait_for_split(members, what, timeout=40):
    """Waits until the members' assignments are disjoint and cover every partition."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        parts = [m.poll() for m in members]
        flat = [p for ps in parts for p in ps]
        if sorted(flat) == list(range(PARTITIONS)) and all(parts):
            log(f"{what}: {parts}")
            return parts
        time.sleep(0.2)
    raise AssertionError(f"{what}: assignments never covered all partitions: {[m.assigned for m in members]}")


def rebalance(strategy):
    topic = f"grp-{strategy}"
    create(topic, PARTITIONS)
    group = f"g-{strategy}"
    members = [Member(group, topic, strategy) for _ in range(3)]
    try:
        wait_for_split(members, f"{strategy}: three members")
        members[0].close()
        wait_for_split(members[1:], f"{strategy}: after a clean close")
        started = time.time()
        members[1].kill()
        wait_for_split(members[2:], f"{strategy}: after a kill -9")
        waited = time.time() - started
        assert waited >= 3, f"took over after {waited:.1f}s: before the session timeout could expire?"
        log(f"{strategy}: the survivor took over {waited:.1f}s after the kill (session.timeout.ms 6000)")
        members.append(Member(group, topic, strategy))
        wait_for_split([members[2], members[3]], f"{strategy}: a new member joins")
    finally:
        for m in members:
            if m.proc.poll() is None:
                m.kill()


def consume_all(c, expected, timeout=30):
    got = {}
    deadline = time.time() + timeout
    while len(got) < expected and time.time() < deadline:
        m = c.poll(0.5)
        if m is None or m.error():
            continue
        got[(m.partition(), m.offset())] = m.value()
    return got


def offsets(state_file):
    topic = "grp-offsets"
    create(topic, PARTITIONS)
    produce(topic, 10)
    # One member consumes half and commits: a new member resumes right after.
    c = consumer("resume")
    c.subscribe([topic])
    got = consume_all(c, 60)
    assert len(got) == 60, len(got)
    commit_at = [TopicPartition(topic, p, 5) for p in range(PARTITIONS)]
    c.commit(offsets=commit_at, asynchronous=False)
    committed = c.committed([TopicPartition(topic, p) for p in range(PARTITIONS)], timeout=10)
    assert [tp.offset for tp in committed] == [5] * PARTITIONS, committed
    c.close()
    c = consumer("resume")
    c.subscribe([topic])
    rest = consume_all(c, 30)
    assert sorted(o for (_, o) in rest) == sorted(list(range(5, 10)) * PARTITIONS), sorted(rest)
    c.close()
    log("commit, committed(), and a new member resumes after the committed offsets")
    # Two groups read the same topic fully and independently.
    for group in ["independent-a", "independent-b"]:
        c = consumer(group)
        c.subscribe([topic])
        assert len(consume_all(c, 60)) == 60, group
        c.commit(asynchronous=False)
        c.close()
    log("two groups each read the whole topic")
    # Admin: list, describe, delete offsets and groups.
    listed = {g.group_id for g in admin().list_consumer_groups().result(timeout=10).valid}
    assert {"resume", "independent-a", "independent-b"} <= listed, listed
    desc = admin().describe_consumer_groups(["resume"])["resume"].result(timeout=10)
    assert desc.state.name == "EMPTY", desc.state
    admin().delete_consumer_groups(["independent-b"])["independent-b"].result(timeout=10)
    listed = {g.group_id for g in admin().list_consumer_groups().result(timeout=10).valid}
    assert "independent-b" not in listed, listed
    req = ConsumerGroupTopicPartitions("independent-a", [TopicPartition(topic, 0)])
    remaining = admin().list_consumer_group_offsets([req])["independent-a"].result(timeout=10)
    assert remaining.topic_partitions[0].offset == 10
    # The surviving group still has its own offsets.
    c = consumer("independent-a")
    assert [tp.offset for tp in c.committed([TopicPartition(topic, 0)], timeout=10)] == [10]
    c.close()
    log("list, describe and delete groups")
    with open(state_file, "w") as f:
        json.dump({"topic": topic, "group": "resume", "committed": 10}, f)


def verify(state_file):
    with open(state_file) as f:
        state = json.load(f)
    topic, group = state["topic"], state["group"]
    c = consumer(group)
    committed = c.committed([TopicPartition(topic, p) for p in range(PARTITIONS)], timeout=15)
    # The second member of "resume" did not commit: still 5 everywhere.
    assert [tp.offset for tp in committed] == [5] * PARTITIONS, committed
    c.subscribe([topic])
    rest = consume_all(c, 30)
    assert len(rest) == 30 and min(o for (_, o) in rest) == 5, sorted(rest)
    c.close()
    log("after the restart: committed offsets intact and the group rejoins and resumes")


if MODE == "worker":
    worker(sys.argv[3], sys.argv[4], sys.argv[5])
elif MODE == "rebalance":
    rebalance(sys.argv[3])
elif MODE == "offsets":
    offsets(sys.argv[3])
elif MODE == "verify":
    verify(sys.argv[3])
else:
    raise SystemExit(f"unknown mode {MODE}")
