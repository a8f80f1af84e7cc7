import type { AedesOptions } from 'aedes';
import { decideSubscribe } from './topics.js';
import { refusalOfTopic } from './refusals.js';
import { refuseByAcl } from './publish.js';
import type { GatewayContext } from './context.js';

/** SUBSCRIBE: a device may subscribe only to its own commands; anything else closes the connection with a reason. */
export function createAuthorizeSubscribe(context: GatewayContext): NonNullable<AedesOptions['authorizeSubscribe']> {
  return (client, subscription, callback) => {
    const deviceId = context.connections.get(client)?.deviceId;
    const badTopic = refusalOfTopic(subscription.topic, context.options);
    if (badTopic) {
      context.closeFor(client, badTopic.reason, badTopic.detail);
      return callback(new Error(badTopic.detail));
    }
    const decision = deviceId ? decideSubscribe(deviceId, subscription.topic) : { allowed: false as const, reason: 'not authenticated' };
    if (!decision.allowed) {
      refuseByAcl(context, client, 'subscribe', subscription.topic, decision.reason);
      return callback(new Error(decision.reason));
    }
    callback(null, subscription);
  };
}
