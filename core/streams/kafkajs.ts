// The one way into kafkajs: its patches (./kafkajs-patches.ts) are in place before kafkajs loads, whoever imports
// it first. Lint allows importing 'kafkajs' nowhere else.
import './kafkajs-patches.js';
import kafkajs from 'kafkajs';

export * from 'kafkajs';
// kafkajs spreads its error classes into its exports, which ESM cannot see as named exports of a CommonJS module.
export const { KafkaJSError, KafkaJSProtocolError, KafkaJSConnectionError, KafkaJSNumberOfRetriesExceeded, KafkaJSNonRetriableError } = kafkajs;
