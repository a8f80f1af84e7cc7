import { Registry, Counter, Gauge, Histogram, collectDefaultMetrics } from 'prom-client';

/**
 * Every metric Sluice exports, defined in one place so names stay consistent across roles.
 * One registry per process (tests create their own), never prom-client's global one.
 */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'sluice_' });
  const metrics = {
    registry,
    mqttConnections: new Gauge({ name: 'sluice_mqtt_connections', help: 'Connected MQTT clients', registers: [registry] }),
    mqttReadPauses: new Counter({
      name: 'sluice_mqtt_read_pauses_total',
      help: 'Times a connection stopped being read because the bridge held its maximum of unacknowledged readings',
      registers: [registry],
    }),
    mqttReadsPaused: new Gauge({
      name: 'sluice_mqtt_reads_paused_connections',
      help: 'Connections not being read because the bridge holds its maximum of unacknowledged readings (TCP backpressure)',
      registers: [registry],
    }),
    mqttConnects: new Counter({ name: 'sluice_mqtt_connects_total', help: 'Accepted MQTT connections', registers: [registry] }),
    mqttAuthFailures: new Counter({ name: 'sluice_mqtt_auth_failures_total', help: 'Refused MQTT connections', labelNames: ['reason'] as const, registers: [registry] }),
    mqttRefusals: new Counter({
      name: 'sluice_mqtt_refusals_total',
      help: 'Connections closed, logins refused and publishes dropped by the gateway, by reason (README: Refusals)',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    mqttAuthChecks: new Counter({ name: 'sluice_mqtt_auth_checks_total', help: 'Device secret checks run, by outcome', labelNames: ['outcome'] as const, registers: [registry] }),
    mqttAuthChecksRunning: new Gauge({ name: 'sluice_mqtt_auth_checks_running', help: 'Device secret checks running now (at most MQTT_AUTH_CONCURRENCY)', registers: [registry] }),
    mqttAuthQueued: new Gauge({ name: 'sluice_mqtt_auth_queued', help: 'Logins waiting for a secret check (at most MQTT_AUTH_QUEUE_MAX)', registers: [registry] }),
    mqttUnauthenticated: new Gauge({ name: 'sluice_mqtt_unauthenticated_connections', help: 'Connections accepted that have not logged in yet', registers: [registry] }),
    mqttDeviceAuthFailures: new Counter({
      name: 'sluice_mqtt_device_auth_failures_total',
      help: 'Failed or throttled logins per registered device id (ids not in the registry are not labelled)',
      labelNames: ['device'] as const,
      registers: [registry],
    }),
    mqttPublishes: new Counter({ name: 'sluice_mqtt_publishes_total', help: 'PUBLISH packets received from devices', labelNames: ['qos'] as const, registers: [registry] }),
    mqttOversizedPackets: new Counter({ name: 'sluice_mqtt_oversized_packets_total', help: 'Connections closed for a packet over MQTT_MAX_PACKET_BYTES', registers: [registry] }),
    mqttProtocolErrors: new Counter({ name: 'sluice_mqtt_protocol_errors_total', help: 'Connections closed for malformed or refused packets', registers: [registry] }),
    qos0Dropped: new Counter({ name: 'sluice_qos0_dropped_total', help: 'QoS 0 publishes dropped because the bridge was saturated or the queue failed', registers: [registry] }),
    aclViolations: new Counter({ name: 'sluice_acl_violations_total', help: 'Publishes or subscriptions refused by the topic ACL', labelNames: ['action'] as const, registers: [registry] }),
    ackLatency: new Histogram({
      name: 'sluice_ingest_ack_seconds',
      help: 'Time from PUBLISH received to the publish admitted (for QoS 1: Kafka acknowledged, PUBACK follows)',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    readingsNormalized: new Counter({ name: 'sluice_readings_normalized_total', help: 'Readings produced by the normalizer', registers: [registry] }),
    rejections: new Counter({ name: 'sluice_deadletters_total', help: 'Payloads or parts of payloads dead-lettered', labelNames: ['code'] as const, registers: [registry] }),
    producerBatchRecords: new Histogram({
      name: 'sluice_producer_batch_records',
      help: 'Records per producer batch',
      buckets: [1, 10, 50, 100, 250, 500, 1000, 2500, 5000],
      registers: [registry],
    }),
    producerBatchSeconds: new Histogram({
      name: 'sluice_producer_batch_seconds',
      help: 'Time for the queue to acknowledge one batch',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5],
      registers: [registry],
    }),
    producerRetries: new Counter({ name: 'sluice_producer_retries_total', help: 'Failed producer batches that were retried', registers: [registry] }),
    inflightReadings: new Gauge({ name: 'sluice_bridge_inflight_records', help: 'Records accepted by the bridge and not yet acknowledged by the queue', registers: [registry] }),
    storeWrites: new Counter({ name: 'sluice_store_points_written_total', help: 'Points written to the store', registers: [registry] }),
    storeWriteSeconds: new Histogram({
      name: 'sluice_store_write_seconds',
      help: 'Store write latency per batch',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    storeRetries: new Counter({ name: 'sluice_store_retries_total', help: 'Failed store writes that were retried', registers: [registry] }),
    sinkRecords: new Counter({ name: 'sluice_sink_records_total', help: 'Readings a sink acknowledged (the store, rabbitmq, kinesis, pulsar)', labelNames: ['sink'] as const, registers: [registry] }),
    sinkRefused: new Counter({ name: 'sluice_sink_refused_total', help: 'Readings a sink refused for good: dead-lettered with its reason', labelNames: ['sink'] as const, registers: [registry] }),
    sinkRetries: new Counter({ name: 'sluice_sink_retries_total', help: 'Failed sink writes that were retried', labelNames: ['sink'] as const, registers: [registry] }),
    sinkWriteSeconds: new Histogram({
      name: 'sluice_sink_write_seconds',
      help: 'Sink write latency per write, until the sink acknowledged',
      labelNames: ['sink'] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    sinkFailing: new Gauge({ name: 'sluice_sink_failing', help: '1 while a sink\'s writes fail and are being retried', labelNames: ['sink'] as const, registers: [registry] }),
    liveReadings: new Counter({ name: 'sluice_live_readings_total', help: 'Readings received by the live feed', registers: [registry] }),
    socketClients: new Gauge({ name: 'sluice_dashboard_socket_clients', help: 'Browsers and other socket.io clients connected to the dashboard', registers: [registry] }),
    ruleEvaluations: new Counter({ name: 'sluice_rule_evaluations_total', help: 'Records (readings, events, dead letters) evaluated against the rules that select their device', registers: [registry] }),
    ruleLateReadings: new Counter({ name: 'sluice_rule_late_readings_total', help: 'Readings older than RULES_ALLOWED_LATENESS_MS behind their device, left out of event-time rules', registers: [registry] }),
    alertTransitions: new Counter({
      name: 'sluice_alert_transitions_total',
      help: 'Alert transitions written to the alerts stream, by rule, severity and transition (raised, updated, cleared, acknowledged)',
      labelNames: ['rule', 'severity', 'transition'] as const,
      registers: [registry],
    }),
    alertsOpen: new Gauge({ name: 'sluice_alerts_open', help: 'Open alerts held by this rules member', labelNames: ['severity'] as const, registers: [registry] }),
    rulesStateRestoreSeconds: new Histogram({
      name: 'sluice_rules_state_restore_seconds',
      help: 'Time to restore rule state from the changelog when this member took over partitions',
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
    rulesReloads: new Counter({ name: 'sluice_rules_reloads_total', help: 'Rules file loads, by outcome (loaded, invalid)', labelNames: ['outcome'] as const, registers: [registry] }),
    alertNotifications: new Counter({
      name: 'sluice_alert_notifications_total',
      help: 'Alert notifications, by channel (webhook, device) and outcome (sent, retried, failed, dropped)',
      labelNames: ['channel', 'outcome'] as const,
      registers: [registry],
    }),
  };
  return metrics;
}

export type Metrics = ReturnType<typeof createMetrics>;

export interface ConsumerLagSample {
  groupId: string;
  topic: string;
  partitions: { partition: number; lag: number }[];
}

/**
 * `sluice_consumer_lag{group,topic,partition}`: records a consumer group still has to read, fetched from
 * Kafka when Prometheus scrapes (through a cached reader), so an idle process asks Kafka nothing.
 */
export function registerConsumerLag(metrics: Metrics, read: () => Promise<ConsumerLagSample[]>): void {
  new Gauge({
    name: 'sluice_consumer_lag',
    help: 'Records a Kafka consumer group has not yet processed, per partition',
    labelNames: ['group', 'topic', 'partition'] as const,
    registers: [metrics.registry],
    async collect() {
      this.reset();
      try {
        for (const group of await read()) {
          for (const { partition, lag } of group.partitions) this.set({ group: group.groupId, topic: group.topic, partition: String(partition) }, lag);
        }
      } catch {
        // Kafka unreachable: no samples rather than stale ones; /readyz says why.
      }
    },
  });
}
