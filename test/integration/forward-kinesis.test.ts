import { startPrivateKinesis } from '../../scripts/sinks/kinesis.js';
import { describeForwardSink } from '../support/forward-sink-suite.js';

// kinesis-local (kinesis-mock) from the npm registry, a server of the test's own; Kinesis takes records up to 1 MiB.
describeForwardSink({
  sink: 'kinesis',
  startServer: (topicPrefix) => startPrivateKinesis({ topicPrefix }),
  oversized: { bytes: 1_100_000, reason: /larger than Kinesis' 1 MiB record limit/ },
  carriesId: false,
});
