import { AssignerProtocol, type PartitionAssigner } from './kafkajs.js';

/**
 * A partition assigner that keeps streams co-partitioned: partition N of every topic goes to the same member. The
 * rules stage needs it: a device's readings, events and dead letters are in partition N of their topics (the same
 * key, partitioner and partition count) and its rule state is in partition N of the changelog, so one member
 * must hold them all. kafkajs's default round-robin assigner deals topic-partitions out one by one across
 * members, which splits a device's streams between members as soon as a group has more than one.
 *
 * A topic goes only to members that subscribed to it (kafkajs's round-robin also hands out topics a member did
 * not ask for, which it then drops unread).
 */
export const copartitionedAssigner: PartitionAssigner = ({ cluster }) => ({
  name: 'SluiceCopartitioned',
  version: 1,
  async assign({ members, topics }) {
    const sorted = [...members].sort((a, b) => a.memberId.localeCompare(b.memberId));
    const subscriptions = new Map(sorted.map((member) => [member.memberId, new Set(AssignerProtocol.MemberMetadata.decode(member.memberMetadata)?.topics ?? [])]));
    const assignments = new Map(sorted.map((member) => [member.memberId, {} as Record<string, number[]>]));
    for (const topic of topics) {
      const subscribers = sorted.filter((member) => subscriptions.get(member.memberId)!.has(topic));
      if (subscribers.length === 0) continue;
      const partitions = cluster.findTopicPartitionMetadata(topic).map((metadata) => metadata.partitionId).sort((a, b) => a - b);
      for (const partition of partitions) {
        const owner = assignments.get(subscribers[partition % subscribers.length]!.memberId)!;
        (owner[topic] ??= []).push(partition);
      }
    }
    return sorted.map((member) => ({
      memberId: member.memberId,
      memberAssignment: AssignerProtocol.MemberAssignment.encode({ version: 1, assignment: assignments.get(member.memberId)!, userData: Buffer.alloc(0) }),
    }));
  },
  protocol({ topics }) {
    return { name: 'SluiceCopartitioned', metadata: AssignerProtocol.MemberMetadata.encode({ version: 1, topics, userData: Buffer.alloc(0) }) };
  },
});
