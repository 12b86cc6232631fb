// kafkajs against a three-node kafe cluster: it sees three brokers and a controller among them, and
// creates a topic with three replicas.
// Usage: node kafkajs_cluster_test.js <bootstrap> <expected broker ids, comma-separated>
const { Kafka, logLevel } = require("kafkajs");

const [bootstrap, expectedList] = process.argv.slice(2);
const expected = expectedList.split(",").map(Number).sort();

async function main() {
  const kafka = new Kafka({ brokers: [bootstrap], logLevel: logLevel.ERROR });
  const admin = kafka.admin();
  await admin.connect();
  const cluster = await admin.describeCluster();
  const ids = cluster.brokers.map((b) => b.nodeId).sort();
  if (JSON.stringify(ids) !== JSON.stringify(expected)) throw new Error(`brokers ${ids}`);
  if (!expected.includes(cluster.controller)) throw new Error(`controller ${cluster.controller}`);
  const created = await admin.createTopics({
    topics: [{ topic: "rf3-kafkajs", numPartitions: 2, replicationFactor: 3 }],
    waitForLeaders: true,
  });
  if (!created) throw new Error("topic not created");
  const metadata = await admin.fetchTopicMetadata({ topics: ["rf3-kafkajs"] });
  for (const p of metadata.topics[0].partitions) {
    if (new Set(p.replicas).size !== 3) throw new Error(`replicas ${p.replicas}`);
  }
  await admin.disconnect();
  console.log(`kafkajs: three brokers, controller ${cluster.controller}, RF=3 topic created`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
