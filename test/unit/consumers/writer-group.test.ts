import { describe, expect, it } from 'vitest';
import { writerGroupVerdict } from '../../../consumers/writer.js';
import type { StreamAssignment } from '../../../core/seams.js';

const assignment = (over: Partial<StreamAssignment> & { assigned?: number[]; unread?: number[] }): StreamAssignment => {
  const { assigned = [0, 1, 2, 3, 4, 5], unread, ...rest } = over;
  return {
    groupId: 'sluice-iot-writer',
    streams: [{ stream: 'telemetry', topic: 'iot.telemetry', partitions: 6, assigned, ...(unread ? { unread } : {}) }],
    members: 1,
    foreignTopics: [],
    ...rest,
  };
};

describe('writerGroupVerdict', () => {
  it('is ready without a note when the group reads every partition', () => {
    expect(writerGroupVerdict(assignment({ unread: [] }))).toEqual({ ready: true });
    expect(writerGroupVerdict(assignment({ assigned: [0, 2, 4], members: 2, unread: [] }))).toEqual({ ready: true });
  });

  it('a spare member of a group with more members than partitions is ready and says it stands by', () => {
    // `--scale sluice-writer=8` over 6 partitions: two members hold nothing until another leaves.
    const verdict = writerGroupVerdict(assignment({ assigned: [], members: 8, unread: [] }));
    expect(verdict.ready).toBe(true);
    expect(verdict.note).toBe(
      'writer group sluice-iot-writer has no partitions for this member: its 8 members share the 6 partitions (iot.telemetry has 6), so it stands by and takes over when a member leaves',
    );
  });

  it('a member handed only other topics is not ready, and names the shared group, the unread partitions and the fix', () => {
    const verdict = writerGroupVerdict(assignment({ assigned: [], members: 2, unread: [0, 1, 2, 3, 4, 5], foreignTopics: ['lab.telemetry'] }));
    expect(verdict.ready).toBe(false);
    expect(verdict.note).toBe(
      'writer group sluice-iot-writer is shared with consumers of other topics (lab.telemetry), probably another deployment: partitions 0, 1, 2, 3, 4, 5 of iot.telemetry are read by no one; give each deployment its own group (the default group id includes KAFKA_TOPIC_PREFIX; check KAFKA_WRITER_GROUP)',
    );
  });

  it('the member that does hold partitions of a shared group is not ready either: the rest of its topic goes unread', () => {
    const verdict = writerGroupVerdict(assignment({ assigned: [0, 2, 4], members: 2, unread: [1, 3, 5], foreignTopics: ['lab.telemetry'] }));
    expect(verdict).toMatchObject({ ready: false, note: expect.stringContaining('partitions 1, 3, 5 of iot.telemetry are read by no one') });
  });

  it('a shared group is not ready even when it could not be described', () => {
    const verdict = writerGroupVerdict(assignment({ assigned: [], members: undefined, foreignTopics: ['lab.telemetry'] }));
    expect(verdict).toMatchObject({ ready: false, note: expect.stringContaining('this member reads none of the 6 of iot.telemetry') });
  });

  it('a member holding nothing in a group that could not be described is not ready, and names both possible reasons', () => {
    const verdict = writerGroupVerdict(assignment({ assigned: [], members: undefined }));
    expect(verdict.ready).toBe(false);
    expect(verdict.note).toMatch(
      /^writer group sluice-iot-writer has no partitions assigned although iot\.telemetry has 6: another consumer group member with other topics may share this group id, or the group has more members than partitions and this member stands by/,
    );
  });

  it('partitions no member holds make the group not ready, whatever the cause', () => {
    expect(writerGroupVerdict(assignment({ assigned: [0], unread: [3] }))).toEqual({
      ready: false,
      note: 'writer group sluice-iot-writer leaves partition 3 of iot.telemetry unread: no member holds them',
    });
  });
});
