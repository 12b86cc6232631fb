"""Real admin clients against a three-node kafe cluster: each sees three brokers and a controller
that is one of them, and creates a topic with three replicas through whichever broker it reached.

Usage: cluster_admin_test.py <bootstrap> <expected broker ids, comma-separated>
"""
import asyncio
import sys

BOOTSTRAP = sys.argv[1]
EXPECTED = sorted(int(b) for b in sys.argv[2].split(","))


def check_replicas(client, partitions, replicas):
    for p in partitions:
        assert len(set(replicas(p))) == 3, f"{client}: partition {p} has replicas {replicas(p)}"


def confluent():
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": BOOTSTRAP})
    md = admin.list_topics(timeout=10)
    assert sorted(md.brokers) == EXPECTED, f"confluent-kafka sees brokers {sorted(md.brokers)}"
    assert md.controller_id in EXPECTED, f"controller {md.controller_id}"
    futures = admin.create_topics([NewTopic("rf3-confluent", num_partitions=3, replication_factor=3)])
    futures["rf3-confluent"].result(timeout=30)
    topic = admin.list_topics(topic="rf3-confluent", timeout=10).topics["rf3-confluent"]
    check_replicas("confluent-kafka", topic.partitions.values(), lambda p: p.replicas)
    cluster = admin.describe_cluster(request_timeout=10).result()
    assert sorted(n.id for n in cluster.nodes) == EXPECTED, f"describe_cluster {cluster.nodes}"
    assert cluster.controller is not None and cluster.controller.id in EXPECTED
    print("confluent-kafka: three brokers, controller", md.controller_id, ", RF=3 topic created")


def kafka_python():
    from kafka.admin import KafkaAdminClient, NewTopic

    admin = KafkaAdminClient(bootstrap_servers=BOOTSTRAP, request_timeout_ms=30000)
    cluster = admin.describe_cluster()
    ids = sorted(b["broker_id"] for b in cluster["brokers"])
    assert ids == EXPECTED, f"kafka-python sees brokers {ids}"
    assert cluster["controller_id"] in EXPECTED
    admin.create_topics([NewTopic("rf3-kafka-python", num_partitions=2, replication_factor=3)])
    described = admin.describe_topics(["rf3-kafka-python"])[0]
    check_replicas("kafka-python", described["partitions"], lambda p: p.get("replicas", p.get("replica_nodes")))
    admin.close()
    print("kafka-python: three brokers, RF=3 topic created")


async def aiokafka_admin():
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    admin = AIOKafkaAdminClient(bootstrap_servers=BOOTSTRAP)
    await admin.start()
    try:
        await admin.create_topics([NewTopic("rf3-aiokafka", num_partitions=1, replication_factor=3)])
        described = await admin.describe_topics(["rf3-aiokafka"])
        check_replicas("aiokafka", described[0]["partitions"], lambda p: p["replicas"])
        cluster = await admin.describe_cluster()
        ids = sorted(b["node_id"] for b in cluster["brokers"])
        assert ids == EXPECTED, f"aiokafka sees brokers {ids}"
    finally:
        await admin.close()
    print("aiokafka: three brokers, RF=3 topic created")


confluent()
kafka_python()
asyncio.run(aiokafka_admin())
