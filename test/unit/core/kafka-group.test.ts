import { describe, expect, it } from 'vitest';
import { describeAssignment, type GroupJoin } from '../../../core/streams/kafka-group.js';

const join = (assigned: Record<string, number[]>, notSubscribed: string[] = []): GroupJoin => ({
  groupId: 'sluice-iot-writer',
  memberId: 'm1',
  topics: new Map([['iot.telemetry', 'telemetry']]),
  assigned,
  notSubscribed,
});
const six = new Map([['iot.telemetry', 6]]);

describe('describeAssignment', () => {
  it('a group of own members that holds every partition leaves nothing unread', () => {
    const members = [
      { memberId: 'm1', topics: ['iot.telemetry'], assignment: { 'iot.telemetry': [0, 2, 4] } },
      { memberId: 'm2', topics: ['iot.telemetry'], assignment: { 'iot.telemetry': [1, 3, 5] } },
    ];
    expect(describeAssignment(join({ 'iot.telemetry': [4, 0, 2] }), six, members)).toEqual({
      groupId: 'sluice-iot-writer',
      streams: [{ stream: 'telemetry', topic: 'iot.telemetry', partitions: 6, assigned: [0, 2, 4], unread: [] }],
      members: 2,
      foreignTopics: [],
    });
  });

  it('partitions the leader handed to a member subscribed to other topics are unread, and those topics are foreign', () => {
    // kafkajs' leader spreads its own topics over every member; the other deployment's member drops them.
    const members = [
      { memberId: 'm1', topics: ['iot.telemetry'], assignment: { 'iot.telemetry': [0, 2, 4] } },
      { memberId: 'm2', topics: ['lab.telemetry'], assignment: { 'iot.telemetry': [1, 3, 5] } },
    ];
    expect(describeAssignment(join({ 'iot.telemetry': [0, 2, 4] }), six, members)).toMatchObject({
      streams: [{ assigned: [0, 2, 4], unread: [1, 3, 5] }],
      members: 2,
      foreignTopics: ['lab.telemetry'],
    });
  });

  it('a member handed only topics it did not subscribe to holds nothing, and every partition of its own topic is unread', () => {
    const members = [
      { memberId: 'm1', topics: ['iot.telemetry'], assignment: { 'lab.telemetry': [1, 3, 5] } },
      { memberId: 'm2', topics: ['lab.telemetry'], assignment: { 'lab.telemetry': [0, 2, 4] } },
    ];
    expect(describeAssignment(join({}, ['lab.telemetry']), six, members)).toMatchObject({
      streams: [{ assigned: [], unread: [0, 1, 2, 3, 4, 5] }],
      foreignTopics: ['lab.telemetry'],
    });
  });

  it('without the group described, only this member is known', () => {
    const described = describeAssignment(join({}, ['lab.telemetry']), six);
    expect(described).toEqual({
      groupId: 'sluice-iot-writer',
      streams: [{ stream: 'telemetry', topic: 'iot.telemetry', partitions: 6, assigned: [] }],
      foreignTopics: ['lab.telemetry'],
    });
  });
});
