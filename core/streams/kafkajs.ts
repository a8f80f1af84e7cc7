// The one way into kafkajs: its patches (./kafkajs-patches.ts) are in place before kafkajs loads, whoever imports
// it first. Lint allows importing 'kafkajs' nowhere else.
import './kafkajs-patches.js';
import kafkajs from 'kafkajs';

export * from 'kafkajs';
// kafkajs spreads its error classes into its exports, which ESM cannot see as named exports of a CommonJS module
// (and the test runner's interop misses some plain ones too).
export const { KafkaJSError, KafkaJSProtocolError, KafkaJSConnectionError, KafkaJSNumberOfRetriesExceeded, KafkaJSNonRetriableError, ConfigResourceTypes } = kafkajs;
