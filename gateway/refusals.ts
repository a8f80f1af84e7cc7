/**
 * Every way the gateway turns a device away, with the answer MQTT 3.1.1 lets it give. One table, so the
 * metric label, the device's activity, the log line and the README speak of the same reasons.
 */
export const REFUSALS = {
  // Before any packet is read: the socket is closed at once, there is nothing to answer yet.
  'unauthenticated-cap': { stage: 'accept', answer: 'closed', what: 'MQTT_MAX_UNAUTHENTICATED connections are waiting to log in' },
  'unauthenticated-cap-address': { stage: 'accept', answer: 'closed', what: 'MQTT_MAX_UNAUTHENTICATED_PER_ADDRESS connections from this address are waiting to log in' },
  'connect-too-large': { stage: 'connect', answer: 'closed', what: 'CONNECT announces more than MQTT_MAX_CONNECT_BYTES; closed after its fixed header' },
  'connect-timeout': { stage: 'connect', answer: 'closed', what: 'no complete CONNECT within MQTT_CONNECT_TIMEOUT_MS' },
  'malformed-packet': { stage: 'any', answer: 'closed', what: 'bytes that are not an MQTT 3.1.1 packet' },
  'unsupported-protocol': { stage: 'connect', answer: 'CONNACK 1', what: 'not MQTT 3.1.1 or 3.1 (MQTT 5 included)' },
  'client-id-rejected': { stage: 'connect', answer: 'CONNACK 2', what: 'an MQTT 3.1 client id longer than 23 characters' },
  'max-connections': { stage: 'connect', answer: 'CONNACK 3', what: 'MQTT_MAX_CONNECTIONS devices are connected' },
  'auth-throttled': { stage: 'connect', answer: 'CONNACK 3', what: 'too many failed logins recently from this address or for this device id' },
  'auth-queue-full': { stage: 'connect', answer: 'CONNACK 3', what: 'MQTT_AUTH_QUEUE_MAX logins are waiting for a secret check' },
  'registry-unavailable': { stage: 'connect', answer: 'CONNACK 3', what: 'the device registry could not be read' },
  'device-disabled': { stage: 'connect', answer: 'CONNACK 5', what: 'the device is disabled in the registry (`sluice devices enable` lets it in again)' },
  'bad-credentials': { stage: 'connect', answer: 'CONNACK 4', what: 'unknown device id or wrong secret' },
  'missing-credentials': { stage: 'connect', answer: 'CONNACK 5', what: 'no user name or password, and no client certificate' },
  'keepalive-out-of-bounds': { stage: 'connect', answer: 'CONNACK 5', what: 'keepalive 0 or above MQTT_MAX_KEEPALIVE_S' },
  'certificate-username-mismatch': { stage: 'connect', answer: 'CONNACK 5', what: 'the user name differs from the client certificate CN' },
  'unknown-certificate-device': { stage: 'connect', answer: 'CONNACK 5', what: 'the certificate CN is not a registered device' },
  'bad-certificate': { stage: 'accept', answer: 'closed', what: 'a client certificate TLS_CA did not sign' },
  // After login: MQTT 3.1.1 has no way to refuse one packet, so the connection is closed.
  'packet-too-large': { stage: 'session', answer: 'closed', what: 'a packet over MQTT_MAX_PACKET_BYTES; closed after its fixed header' },
  'topic-levels': { stage: 'session', answer: 'closed', what: 'a topic deeper than MQTT_MAX_TOPIC_LEVELS' },
  'topic-too-long': { stage: 'session', answer: 'closed', what: 'a topic longer than MQTT_MAX_TOPIC_BYTES' },
  'invalid-utf8': { stage: 'session', answer: 'closed', what: 'a topic that is not well-formed UTF-8 or holds U+0000' },
  'invalid-topic': { stage: 'session', answer: 'closed', what: 'an empty topic, or a wildcard in a PUBLISH topic' },
  'acl-violation': { stage: 'session', answer: 'closed', what: 'a publish or subscribe outside the device\'s own topics' },
  'inflight-limit': { stage: 'session', answer: 'closed', what: 'more QoS 2 publishes awaiting PUBREL than the broker holds' },
  'protocol-violation': { stage: 'session', answer: 'closed', what: 'a second CONNECT, or a packet only a server sends' },
  'keepalive-timeout': { stage: 'session', answer: 'closed', what: 'nothing received for 1.5 × the keepalive' },
  takeover: { stage: 'session', answer: 'closed', what: 'a newer connection of this device (same client id, or same device on any gateway) replaced this one' },
  removed: { stage: 'session', answer: 'closed', what: 'the device was removed from the registry' },
  disabled: { stage: 'session', answer: 'closed', what: 'the device was disabled in the registry' },
  'ingest-failed': { stage: 'session', answer: 'closed, no PUBACK', what: 'the reading could not be stored in Kafka in time; the device sends it again' },
  'qos0-dropped': { stage: 'session', answer: 'dropped', what: 'a QoS 0 publish while the bridge is full (best effort)' },
} as const satisfies Record<string, { stage: 'accept' | 'connect' | 'session' | 'any'; answer: string; what: string }>;

export type RefusalReason = keyof typeof REFUSALS;

/** The refusal behind an error aedes or mqtt-packet closed a connection with; undefined for network errors. */
export function refusalOfError(message: string): RefusalReason | undefined {
  if (message === 'connect did not arrive in time') return 'connect-timeout';
  if (message === 'keep alive timeout') return 'keepalive-timeout';
  if (message === 'topic has too many levels') return 'topic-levels';
  if (/^(empty topic|impossible to .* an empty topic|[#+] is (not|only) allowed)/.test(message)) return 'invalid-topic';
  if (message.startsWith('maxInflightInbound exceeded')) return 'inflight-limit';
  if (message === 'Invalid protocol' || message === 'packet received not valid') return 'protocol-violation';
  if (message === 'unacceptable protocol version') return 'unsupported-protocol';
  if (message === 'identifier rejected') return 'client-id-rejected';
  if (/^(Invalid|Cannot parse|Packet too short|Malformed|Not supported|Packet must not|Connect flag|Will (Retain|QoS)|Unknown property)/.test(message)) {
    return 'malformed-packet';
  }
  return undefined;
}

/**
 * Checks a PUBLISH topic beyond what aedes checks. mqtt-packet decodes topics without validating UTF-8, so
 * a malformed sequence arrives as U+FFFD; a topic that really holds U+FFFD is refused with it.
 */
export function refusalOfTopic(topic: string, limits: { maxTopicLevels: number; maxTopicBytes: number }): { reason: RefusalReason; detail: string } | undefined {
  if (topic.includes('\uFFFD') || topic.includes('\u0000')) {
    return { reason: 'invalid-utf8', detail: 'the topic is not well-formed UTF-8 or holds U+0000 [MQTT-1.5.3]' };
  }
  const bytes = Buffer.byteLength(topic, 'utf8');
  if (bytes > limits.maxTopicBytes) return { reason: 'topic-too-long', detail: `the topic has ${bytes} bytes; the limit is ${limits.maxTopicBytes}` };
  let levels = 1;
  for (let i = topic.indexOf('/'); i !== -1; i = topic.indexOf('/', i + 1)) levels++;
  if (levels > limits.maxTopicLevels) return { reason: 'topic-levels', detail: `the topic has ${levels} levels; the limit is ${limits.maxTopicLevels}` };
  return undefined;
}

/**
 * At most one log line per key and interval; the next line says how many were left out. A flood of refusals
 * must not become a flood of log lines.
 */
export function createLogLimiter(intervalMs: number, now: () => number = Date.now, maxKeys = 10_000) {
  const seen = new Map<string, { at: number; suppressed: number }>();
  return (key: string, emit: (suppressed: number) => void): void => {
    const at = now();
    const entry = seen.get(key);
    if (entry && at - entry.at < intervalMs) {
      entry.suppressed++;
      return;
    }
    seen.delete(key);
    seen.set(key, { at, suppressed: 0 });
    if (seen.size > maxKeys) seen.delete(seen.keys().next().value!);
    emit(entry?.suppressed ?? 0);
  };
}
