import { describe, expect, it } from 'vitest';
import { COMMANDS } from '../../daemon/chat/commands.js';
import { b, code, link, pre, splitText } from '../../daemon/chat/message.js';
import { outputMessage } from '../../daemon/chat/output.js';
import { slashCommands } from '../../daemon/discord/bot.js';
import { buttonRows, discordInfo, MESSAGE_LIMIT, toMarkdown } from '../../daemon/discord/render.js';

describe('the core’s text as Discord Markdown', () => {
  it('escapes what users wrote, so it neither formats nor links', () => {
    expect(toMarkdown(['*hi* _there_ ~~x~~ `y` [a](http://e)'])).not.toMatch(/(^|[^\\])\*hi/);
    expect(toMarkdown([b('**x**')])).toBe('**\\*\\*x\\*\\***');
  });
  it('keeps a block closed whatever the output holds', () => {
    const md = toMarkdown([pre('before ``` after')]);
    expect(md.startsWith('```\n')).toBe(true);
    expect(md.endsWith('\n```')).toBe(true);
    expect(md.slice(4, -4)).not.toContain('```');
    expect(toMarkdown([code('a`b')])).toBe('`` a`b ``');
  });
  it('writes links without an embed', () => {
    expect(toMarkdown([link('Open [it]', 'https://x.example/t?a=1')])).toBe('[Open it](<https://x.example/t?a=1>)');
  });
  it('splits long text full of Markdown characters into parts that each fit once escaped, losing nothing', () => {
    const line = '<b>*x*</b> & _y_ ~~z~~ |w| `c` > q #h -l [a](b) 1. \\ ';
    const text = Array.from({ length: 120 }, (_, n) => `- ${n} ${line}`).join('\n');
    const parts = splitText(text, MESSAGE_LIMIT, discordInfo().textCost);
    expect(parts.length).toBeGreaterThan(1);
    for (const part of parts) expect(toMarkdown(part).length).toBeLessThanOrEqual(MESSAGE_LIMIT);
    expect(parts.join('\n')).toBe(text);
  });
  it('shows the end of long output within one message and attaches the rest', () => {
    const output = Buffer.from(`${'```'.repeat(3000)}\nlast`);
    const { message, attach } = outputMessage(discordInfo(), { title: ['t'], output, fileName: 'o.txt', footer: 'Exit code: 0' });
    expect(attach).toBe(true);
    const md = toMarkdown(message.text);
    expect(md.length).toBeLessThanOrEqual(MESSAGE_LIMIT);
    expect(md).toContain('last\n```');
  });
  it('folds more than 5 rows of buttons into rows of 5, at most 25', () => {
    const many = Array.from({ length: 30 }, (_, n) => [{ label: `p${n}`, data: `ap:${n}` }]);
    const rows = buttonRows(many);
    expect(rows.length).toBe(5);
    expect(rows.every((r) => r.length === 5)).toBe(true);
    expect(buttonRows([[{ label: 'a', data: 'a' }], []])).toEqual([[{ label: 'a', data: 'a' }]]);
  });
});

describe('slash commands from the core’s list', () => {
  const commands = slashCommands();
  it('are valid for Discord: names, descriptions, required options first, at most 100', () => {
    expect(commands.length).toBe(COMMANDS.length);
    expect(commands.length).toBeLessThanOrEqual(100);
    for (const c of commands) {
      expect(c.name).toMatch(/^[-_a-z0-9]{1,32}$/);
      expect(c.description.length).toBeGreaterThan(0);
      expect(c.description.length).toBeLessThanOrEqual(100);
      const required = c.options.map((o) => o.required);
      expect(required).toEqual([...required].sort((x, y) => Number(y) - Number(x)));
      for (const o of c.options) expect(o.name).toMatch(/^[-_a-z0-9]{1,32}$/);
    }
  });
  it('never ask for a secret as an option (it is typed into a form)', () => {
    const setkey = commands.find((c) => c.name === 'setkey');
    expect(setkey?.options.map((o) => o.name)).toEqual(['name']);
    const upload = commands.find((c) => c.name === 'upload');
    expect(upload?.options[0]).toMatchObject({ name: 'file', type: 11, required: true });
  });
});
