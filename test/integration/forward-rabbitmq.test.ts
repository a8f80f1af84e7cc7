import { startPrivateRabbitmq } from '../../scripts/sinks/rabbitmq.js';
import { describeForwardSink } from '../support/forward-sink-suite.js';

// RabbitMQ 3.10 from Debian, a node of the test's own; max_message_size lowered so a reading can exceed it.
describeForwardSink({
  sink: 'rabbitmq',
  startServer: (topicPrefix) => startPrivateRabbitmq({ topicPrefix, maxMessageBytes: 65_536 }),
  oversized: { bytes: 100_000, reason: /max_message_size|larger than configured max size/ },
  carriesId: true,
});
