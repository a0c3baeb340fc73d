import { describe, expect, it } from 'vitest';
import { SourcePenalties } from '../../daemon/ssh/penalties.js';
import { PreAuthSlots } from '../../daemon/ssh/rate-limit.js';
import { addPenalty, admission, earlyDropChance, type PenaltyRules, refusedForMs } from '../../src/domain/ssh-admission.js';
import { CONFIG_KEYS } from '../../src/values/config-keys.js';

const limits = { perSource: 10, start: 10, rate: 30, full: 100 };

describe('who is let in before login (MaxStartups, fair to newcomers)', () => {
  it.each([
    { open: 0, chance: 0 },
    { open: 9, chance: 0 },
    { open: 10, chance: 30 },
    // Half way from start to full: 30 + 70 / 2.
    { open: 55, chance: 65 },
    { open: 99, chance: 30 + (70 * 89) / 90 },
    { open: 100, chance: 100 },
    { open: 150, chance: 100 },
  ])("sshd's early drop chance with $open connections open is $chance %", ({ open, chance }) => {
    expect(earlyDropChance(open, limits)).toBeCloseTo(chance, 6);
  });

  it.each([
    // A source that holds nothing is let in whatever the roll, while the table has room.
    { why: 'a newcomer below start', held: 0, open: 3, penalised: false, roll: 0, out: 'admit' },
    { why: 'a newcomer while a flood holds 30 slots', held: 0, open: 30, penalised: false, roll: 0, out: 'admit' },
    { why: 'a newcomer one short of full', held: 0, open: 99, penalised: false, roll: 0, out: 'admit' },
    { why: 'a newcomer when the table is full', held: 0, open: 100, penalised: false, roll: 0.99, out: 'startups-full' },
    // A source that holds slots meets sshd's random early drop.
    { why: 'a holder below start', held: 3, open: 9, penalised: false, roll: 0, out: 'admit' },
    { why: 'a holder at start, roll under 30 %', held: 1, open: 10, penalised: false, roll: 0.29, out: 'startups-early-drop' },
    { why: 'a holder at start, roll over 30 %', held: 1, open: 10, penalised: false, roll: 0.31, out: 'admit' },
    { why: 'a holder half way, roll under 65 %', held: 5, open: 55, penalised: false, roll: 0.64, out: 'startups-early-drop' },
    { why: 'a holder half way, roll over 65 %', held: 5, open: 55, penalised: false, roll: 0.66, out: 'admit' },
    { why: 'a holder when the table is full', held: 9, open: 100, penalised: false, roll: 0.99, out: 'startups-full' },
    // The per-source cap, then penalties, come first.
    { why: 'a source at its cap', held: 10, open: 10, penalised: false, roll: 0.99, out: 'per-source' },
    { why: 'a penalised source that holds nothing', held: 0, open: 0, penalised: true, roll: 0.99, out: 'penalty' },
    { why: 'a penalised source at its cap', held: 10, open: 100, penalised: true, roll: 0.99, out: 'penalty' },
  ])('$why: $out', ({ held, open, penalised, roll, out }) => {
    expect(admission({ held, open, penalised }, limits, roll)).toBe(out);
  });

  it('lets a fourth source in while three flooding ones fill their slots, whatever the dice say', () => {
    // The dice always say "drop": only the sources holding slots are ever dropped at random.
    const slots = new PreAuthSlots(() => 0);
    const outcomes = new Map<string, string[]>();
    for (let i = 0; i < 300; i++) {
      const source = `127.0.0.${5 + (i % 3)}`;
      const r = slots.take(source, limits);
      outcomes.set(source, [...(outcomes.get(source) ?? []), typeof r === 'string' ? r : 'admit']);
    }
    // Let in until start (10), then every one of theirs dropped; each met the early drop.
    expect(slots.open).toBe(limits.start);
    for (const list of outcomes.values()) expect(list).toContain('startups-early-drop');
    for (let i = 0; i < 5; i++) expect(typeof slots.take(`127.0.0.${50 + i}`, limits)).toBe('function');
    expect(slots.take('127.0.0.8', limits, true)).toBe('penalty');
    expect(slots.open).toBe(15);
  });
});

const rules: PenaltyRules = { maxMs: 600_000, minMs: 15_000, amounts: { 'grace-exceeded': 20_000, noauth: 1000 } };

describe('penalties per source (sshd PerSourcePenalties)', () => {
  it.each([
    { why: 'a first timeout starts a penalty past the threshold', prev: undefined, amount: 20_000, until: 20_000, active: true },
    { why: 'a first garbage connection stays below the threshold', prev: undefined, amount: 1000, until: 1000, active: false },
    { why: 'garbage adds up to the threshold', prev: { untilMs: 14_000, active: false }, amount: 1000, until: 15_000, active: true },
    { why: 'a running penalty grows', prev: { untilMs: 100_000, active: true }, amount: 20_000, until: 120_000, active: true },
    { why: 'up to the maximum from now', prev: { untilMs: 595_000, active: true }, amount: 20_000, until: 600_000, active: true },
    { why: 'a penalty that ran out starts afresh', prev: { untilMs: -5000, active: true }, amount: 1000, until: 1000, active: false },
    { why: 'a cause worth 0 earns nothing', prev: { untilMs: 3000, active: false }, amount: 0, until: 3000, active: false },
  ])('$why', ({ prev, amount, until, active }) => {
    expect(addPenalty(prev, amount, 0, rules)).toEqual({ untilMs: until, active });
  });

  it('earns nothing when penalties are off (ssh.penalty-max 0)', () => {
    expect(addPenalty(undefined, 20_000, 0, { maxMs: 0, minMs: 15_000 })).toBeUndefined();
  });

  it('enforces a penalty that reaches the maximum when the threshold is set above it', () => {
    expect(addPenalty(undefined, 20_000, 0, { maxMs: 10_000, minMs: 15_000 })).toEqual({ untilMs: 10_000, active: true });
  });

  it.each([
    { why: 'an active penalty refuses until its end', penalty: { untilMs: 30_000, active: true }, now: 10_000, left: 20_000 },
    { why: 'one below the threshold refuses nothing', penalty: { untilMs: 30_000, active: false }, now: 10_000, left: 0 },
    { why: 'one that ran out refuses nothing', penalty: { untilMs: 30_000, active: true }, now: 30_000, left: 0 },
    { why: 'no penalty refuses nothing', penalty: undefined, now: 0, left: 0 },
  ])('$why', ({ penalty, now, left }) => {
    expect(refusedForMs(penalty, now)).toBe(left);
  });

  it('refuses a source after its timeouts, lets it in again once the penalty decays, and keys IPv6 by /64', () => {
    let now = 0;
    const table = new SourcePenalties(100, () => now);
    expect(table.penalise('127.0.0.5', 'grace-exceeded', rules)).toEqual({ refusedMs: 20_000, started: true });
    expect(table.penalise('127.0.0.5', 'grace-exceeded', rules)).toEqual({ refusedMs: 40_000, started: false });
    expect(table.refusedFor('127.0.0.5')).toBe(40_000);
    expect(table.refusedFor('127.0.0.1')).toBe(0);
    now = 39_999;
    expect(table.refusedFor('127.0.0.5')).toBe(1);
    now = 40_000;
    expect(table.refusedFor('127.0.0.5')).toBe(0);
    expect(table.size).toBe(0);
    // Garbage: refused from the 15th connection within the window on.
    for (let i = 1; i < 15; i++) expect(table.penalise('2001:db8:1:2::7', 'noauth', rules).refusedMs).toBe(0);
    expect(table.penalise('2001:db8:1:2::9', 'noauth', rules)).toEqual({ refusedMs: 15_000, started: true });
    expect(table.refusedFor('2001:db8:1:2:ffff::1')).toBe(15_000);
    expect(table.refusedFor('2001:db8:1:3::1')).toBe(0);
  });

  it('never tracks more sources than its bound: what ran out goes first, then the penalty closest to its end', () => {
    let now = 0;
    const table = new SourcePenalties(3, () => now);
    table.penalise('10.0.0.1', 'noauth', rules); // ends at 1 s
    table.penalise('10.0.0.2', 'grace-exceeded', rules); // ends at 20 s
    table.penalise('10.0.0.3', 'grace-exceeded', rules);
    table.penalise('10.0.0.3', 'grace-exceeded', rules); // ends at 40 s
    now = 2000;
    table.penalise('10.0.0.4', 'grace-exceeded', rules); // 10.0.0.1 ran out: it goes
    expect(table.size).toBe(3);
    table.penalise('10.0.0.5', 'grace-exceeded', rules); // full: 10.0.0.2 ends soonest
    expect(table.size).toBe(3);
    expect(table.refusedFor('10.0.0.2')).toBe(0);
    expect(table.refusedFor('10.0.0.3')).toBe(38_000);
    expect(table.refusedFor('10.0.0.4')).toBe(20_000);
    expect(table.refusedFor('10.0.0.5')).toBe(20_000);
    for (let i = 0; i < 1000; i++) table.penalise(`10.1.${i >> 8}.${i & 255}`, 'grace-exceeded', rules);
    expect(table.size).toBe(3);
  });
});

describe('penalty settings', () => {
  it.each([
    { key: 'ssh.penalty-grace-exceeded', text: '30s', value: 30, shown: '30s' },
    { key: 'ssh.penalty-noauth', text: '0', value: 0, shown: '0' },
    { key: 'ssh.penalty-min', text: '1m', value: 60, shown: '1m' },
    { key: 'ssh.penalty-max', text: '1h', value: 3600, shown: '1h' },
  ] as const)('$key takes $text', ({ key, text, value, shown }) => {
    expect(CONFIG_KEYS[key].parse(text)).toBe(value);
    expect(CONFIG_KEYS[key].format(value)).toBe(shown);
  });

  it('refuses a penalty that is not a duration, saying how to write one', () => {
    expect(() => CONFIG_KEYS['ssh.penalty-max'].parse('forever')).toThrow(/not a valid maximum penalty/);
    expect(CONFIG_KEYS['ssh.penalty-max'].default).toBe(600);
    expect(CONFIG_KEYS['ssh.penalty-grace-exceeded'].default).toBe(20);
  });
});
