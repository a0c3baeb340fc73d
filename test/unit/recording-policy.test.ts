import { describe, expect, it } from 'vitest';
import { recordingNotice, recordingNoticeFor, recordModeFor } from '../../src/domain/recording.js';
import type { State } from '../../src/state/schema.js';

const state = (config: Record<string, unknown>, record?: 'off' | 'output' | 'output+input') =>
  ({
    config,
    plans: [
      { name: 'basic', ...(record ? { record } : {}) },
      { name: 'other', record: 'output+input' },
    ],
  }) as unknown as State;

describe('who is recorded', () => {
  it("takes the user's plan's record, else config sessions.record (off by default)", () => {
    expect(recordModeFor(state({}), { plan: 'basic' })).toBe('off');
    expect(recordModeFor(state({ 'sessions.record': 'output' }), { plan: 'basic' })).toBe('output');
    expect(recordModeFor(state({ 'sessions.record': 'output' }, 'off'), { plan: 'basic' })).toBe('off');
    expect(recordModeFor(state({}), { plan: 'other' })).toBe('output+input');
    expect(recordModeFor(state({ 'sessions.record': 'output' }), undefined)).toBe('output');
  });

  it('tells a recorded user what is kept and for how long, and says nothing to one who is not', () => {
    expect(recordingNotice('off', 86400)).toBeNull();
    expect(recordingNotice('output', 30 * 86400)).toBe(
      'berth: this session is recorded: what you see (not what you type); the operator keeps recordings for 30d.',
    );
    expect(recordingNotice('output+input', 3600)).toContain('what you see and what you type (passwords too)');
    expect(recordingNoticeFor(state({ 'sessions.record': 'output', 'sessions.record-keep': 7 * 86400 }), { plan: 'basic' })).toContain(
      'for 7d',
    );
  });
});
