// The cluster lives in scripts/ because `sluice bench --kafka-nodes 3` starts one too.
export { startPrivateKafka, type PrivateKafka } from '../../scripts/kafka-cluster.js';
