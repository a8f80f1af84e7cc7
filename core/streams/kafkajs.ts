// The one way into kafkajs: its patches (./kafkajs-patches.ts) are in place before kafkajs loads, whoever imports
// it first. Lint allows importing 'kafkajs' nowhere else, and this module only inside core/streams/ (the rest of
// Sluice goes through the seams: StreamBus, ConsumerLagSource) and in bench/baselines.ts (raw-Kafka baseline),
// scripts/ and test/support/ (eslint.config.js).
import './kafkajs-patches.js';
import kafkajs from 'kafkajs';

export * from 'kafkajs';
// kafkajs spreads its error classes into its exports, which ESM cannot see as named exports of a CommonJS module
// (and the test runner's interop misses some plain ones too).
export const { KafkaJSError, KafkaJSProtocolError, KafkaJSConnectionError, KafkaJSNumberOfRetriesExceeded, KafkaJSNonRetriableError, ConfigResourceTypes } = kafkajs;
