import { AssignerProtocol, type Admin, type Kafka } from './kafkajs.js';
import type { StreamAssignment, StreamName } from '../seams.js';

/**
 * What a consumer group member reads, and what its whole group reads, after a join (StreamAssignment).
 *
 * kafkajs 2.2.4's round-robin assigner, run by the group's leader, spreads the partitions of the leader's own
 * topics over every member, whatever each member subscribed to; a member handed topics it did not subscribe
 * to logs "received unsubscribed topics" and drops them. In a group shared by two deployments (same group id,
 * other topics) part of the leader's partitions and all of the other deployment's are then read by no one,
 * while every member looks busy. The member's own assignment cannot tell this apart from a spare member of a
 * group with more members than partitions, so the group is described (its members' subscriptions and
 * assignments, public admin API) once per join.
 */

/** What kafkajs told this member at a join. */
export interface GroupJoin {
  groupId: string;
  memberId: string;
  /** The subscribed topics and their streams. */
  topics: ReadonlyMap<string, StreamName>;
  /** The assignment kafkajs kept: subscribed topics only (GROUP_JOIN's `memberAssignment`). */
  assigned: Readonly<Record<string, readonly number[]>>;
  /** Topics the group handed this member that it did not subscribe to (RECEIVED_UNSUBSCRIBED_TOPICS). */
  notSubscribed: readonly string[];
}

/** One member of a described group: what it subscribed to and what the leader assigned it. */
export interface GroupMemberView {
  memberId: string;
  topics: readonly string[];
  assignment: Readonly<Record<string, readonly number[]>>;
}

/**
 * The assignment as the seam reports it. Without `members` (the group could not be described) only this
 * member's view is known: no `unread` and no `members`.
 */
export function describeAssignment(join: GroupJoin, partitionCounts: ReadonlyMap<string, number>, members?: readonly GroupMemberView[]): StreamAssignment {
  const foreign = new Set(join.notSubscribed);
  for (const member of members ?? []) {
    for (const topic of member.topics) if (!join.topics.has(topic)) foreign.add(topic);
  }
  const streams = [...join.topics].map(([topic, stream]) => {
    const partitions = partitionCounts.get(topic) ?? 0;
    const entry = { stream, topic, partitions, assigned: [...(join.assigned[topic] ?? [])].sort((a, b) => a - b) };
    if (!members) return entry;
    // A partition handed to a member that did not subscribe to its topic is dropped by that member: unread.
    const read = new Set(members.filter((m) => m.topics.includes(topic)).flatMap((m) => m.assignment[topic] ?? []));
    return { ...entry, unread: Array.from({ length: partitions }, (_, p) => p).filter((p) => !read.has(p)) };
  });
  return { groupId: join.groupId, streams, ...(members ? { members: members.length } : {}), foreignTopics: [...foreign].sort() };
}

/**
 * Looks at the topics and the group once after a join. Never throws: what could not be read is left out of
 * the answer (partition counts then fall back to `fallbackPartitions`).
 */
export async function inspectGroupJoin(kafka: Kafka, join: GroupJoin, fallbackPartitions: number): Promise<StreamAssignment> {
  const topics = [...join.topics.keys()];
  let counts = new Map(topics.map((topic) => [topic, fallbackPartitions]));
  let members: GroupMemberView[] | undefined;
  const admin = kafka.admin();
  try {
    await admin.connect();
    const metadata = await admin.fetchTopicMetadata({ topics });
    counts = new Map(metadata.topics.map((t) => [t.name, t.partitions.length]));
    members = await describeMembers(admin, join);
  } catch {
    // Kafka did not answer: judged from this member's own assignment (see the writer's verdict).
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
  return describeAssignment(join, counts, members);
}

/** The members once the group is stable, as of this join; undefined when the group has moved on or cannot be read. */
async function describeMembers(admin: Admin, join: GroupJoin): Promise<GroupMemberView[] | undefined> {
  for (let attempt = 1; attempt <= 5; attempt++) {
    const group = (await admin.describeGroups([join.groupId])).groups[0];
    // Outside Stable, Kafka leaves the members' subscriptions and assignments out of the answer.
    if (group?.state === 'Stable') {
      const members = group.members.map((m) => ({
        memberId: m.memberId,
        topics: AssignerProtocol.MemberMetadata.decode(m.memberMetadata)?.topics ?? [],
        assignment: AssignerProtocol.MemberAssignment.decode(m.memberAssignment)?.assignment ?? {},
      }));
      const self = members.find((m) => m.memberId === join.memberId);
      // Another rebalance has begun since our join: its own join is inspected instead.
      if (!self || !sameAssignment(self, join)) return undefined;
      return members;
    }
    await new Promise((resolve) => setTimeout(resolve, 200 * attempt));
  }
  return undefined;
}

function sameAssignment(self: GroupMemberView, join: GroupJoin): boolean {
  const key = (assignment: Readonly<Record<string, readonly number[]>>) =>
    [...join.topics.keys()].map((topic) => `${topic}:${[...(assignment[topic] ?? [])].sort((a, b) => a - b).join(',')}`).join(';');
  return key(self.assignment) === key(join.assigned);
}
