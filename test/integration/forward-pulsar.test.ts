import { startPrivatePulsar } from '../../scripts/sinks/pulsar.js';
import { describeForwardSink } from '../support/forward-sink-suite.js';

// A standalone Pulsar 4.2.4 of the test's own (Maven jars on Java 17), its maxMessageSize lowered so a reading can exceed it.
describeForwardSink({
  sink: 'pulsar',
  startServer: (topicPrefix) => startPrivatePulsar({ topicPrefix, maxMessageSize: 65_536 }),
  oversized: { bytes: 100_000, reason: /exceeds \d+ bytes|InvalidMessageException/ },
  carriesId: true,
});
