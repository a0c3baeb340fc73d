import { Box, type Key, Text, useApp, useInput, useWindowSize } from 'ink';
import { useCallback, useEffect, useRef, useState } from 'react';
import type { VmEventEntry } from '../state/schema.js';
import { ColourContext, Tint } from './colour.js';
import { type ConfirmChoice, ConfirmDialog } from './confirm-dialog.js';
import type { DataSource, LiveVm, PlanRow, Snapshot, UserRow, VmRow } from './data-source.js';
import { Details } from './details.js';
import { EventsView, eventKey } from './events-view.js';
import { mb } from './format.js';
import { Header, LOCAL_TABS, TABS, type Tab, TabBar } from './header.js';
import { HelpOverlay } from './help-overlay.js';
import { LogsPane } from './logs-pane.js';
import { NodesTable } from './nodes-table.js';
import { PlanPicker } from './plan-picker.js';
import { PlansTable } from './plans-table.js';
import { ScheduleView } from './schedule-view.js';
import { scrollWindow } from './table.js';
import { UsersTable } from './users-table.js';
import { sortVms, VM_SORTS, type VmSort, VmTable } from './vm-table.js';

/** What survives leaving the TUI for a shell and coming back. */
export interface UiState {
  tab: Tab;
  selected: Partial<Record<Tab, string | null>>;
  sort: VmSort;
  filter: string;
}

/** How the app ended: quit, or asked for a shell in a VM (the caller runs it and renders the app again). */
export type AppExit = { shell: string; ui: UiState } | undefined;

export interface AppProps {
  source: DataSource;
  /** Between two refreshes (ms). */
  refreshMs?: number;
  colour?: boolean;
  /** Size of the screen; by default the terminal's, following resizes. */
  width?: number;
  height?: number;
  initial?: Partial<UiState>;
  /** How long an action's outcome stays in the status line (ms). */
  statusMs?: number;
  /** A first snapshot already on its way (read while the app's modules loaded): the first refresh takes it. */
  first?: Promise<Snapshot>;
  /** The state file's part of it (`DataSource.quick`), drawn until the first snapshot is. */
  quick?: Promise<Snapshot>;
}

type Modal =
  | { kind: 'help' }
  | {
      kind: 'confirm';
      title: string;
      body?: string;
      choices: Array<ConfirmChoice & { run: () => void }>;
      /** The input batch whose key opened it: keys that came with it are not answers. */
      batch: number;
    }
  | { kind: 'details'; ref: string }
  | { kind: 'plan'; login: string; current: string; index: number };

interface Logs {
  ref: string;
  lines: string[];
  partial: string;
  ended: string | null;
}

const MAX_LOG_LINES = 500;
/** An unchanged snapshot is drawn again after this long (uptimes and countdowns move on). */
const SAME_SNAPSHOT_MS = 10_000;
/** Log text arriving within this long is drawn in one go. */
const LOG_BATCH_MS = 100;
/** Log text kept while waiting to be drawn (more than the pane can show). */
const MAX_PENDING_LOG = 256 * 1024;
/** How long an action's outcome stays in the status line (any key clears it sooner). */
const STATUS_MS = 5000;
// biome-ignore lint/suspicious/noControlCharactersInRegex: escape sequences from a VM's output are dropped, not drawn
const CONTROL = /\u001b\[[0-?]*[ -/]*[@-~]|\u001b[@-_]|[\u0000-\u0008\u000b-\u001f\u007f]/g;

const NO_KEY: Key = {
  upArrow: false,
  downArrow: false,
  leftArrow: false,
  rightArrow: false,
  pageDown: false,
  pageUp: false,
  home: false,
  end: false,
  return: false,
  escape: false,
  ctrl: false,
  shift: false,
  tab: false,
  backspace: false,
  delete: false,
  meta: false,
  super: false,
  hyper: false,
  capsLock: false,
  numLock: false,
};

const HINTS: Record<Tab, string> = {
  VMs: 's start x stop r restart d destroy l logs e shell ⏎ details o sort / filter ? help',
  Users: 'a approve R reject p plan v revoke / filter ? help',
  Plans: '/ filter ? help',
  Schedule: 'm maintenance on/off ? help',
  Events: '/ filter ? help',
  Nodes: '/ filter ? help',
};

const matches = (filter: string, ...fields: Array<string | number | null>) =>
  !filter || fields.some((f) => f !== null && String(f).toLowerCase().includes(filter.toLowerCase()));

function useTerminalSize(width?: number, height?: number): { width: number; height: number } {
  // Re-renders on resize; 80×24 when the output is not a terminal.
  const { columns, rows } = useWindowSize();
  return { width: width ?? (columns || 80), height: height ?? (rows || 24) };
}

export function App({
  source,
  refreshMs = 1500,
  colour = true,
  width: w,
  height: h,
  initial,
  statusMs = STATUS_MS,
  first,
  quick,
}: AppProps) {
  const { exit } = useApp();
  const { width, height } = useTerminalSize(w, h);
  // One state for both, so that a snapshot is one render.
  const [shown, setShown] = useState<{ snap: Snapshot | null; vms: VmRow[] }>({ snap: null, vms: [] });
  const { snap, vms: vmsKnown } = shown;
  /** What the last snapshot drawn said (without its time), and when it was drawn: an unchanged one is not drawn again. */
  const lastDrawn = useRef({ text: '', at: 0 });
  /** Live numbers of running VMs, by ref: read apart from the snapshots, never holding them up. */
  const [live, setLive] = useState<Map<string, LiveVm>>(new Map());
  const statsBusy = useRef(false);
  /** Reads the live numbers now (see readStats below), for a refresh that draws nothing new. */
  const statsNow = useRef<() => void>(() => undefined);
  const lastLive = useRef('');
  /** The running VMs on screen and the others, as last drawn: what the next read of live numbers asks for. */
  const statsWanted = useRef<{ visible: string[]; others: string[] }>({ visible: [], others: [] });
  const [tab, setTab] = useState<Tab>(initial?.tab ?? 'VMs');
  const [selected, setSelected] = useState<Partial<Record<Tab, string | null>>>(initial?.selected ?? {});
  const [sort, setSort] = useState<VmSort>(initial?.sort ?? 'user');
  const [filter, setFilter] = useState(initial?.filter ?? '');
  const [editingFilter, setEditingFilter] = useState(false);
  const [modal, setModal] = useState<Modal | null>(null);
  // `pending` while an action runs; its outcome then shows for STATUS_MS, or until the next key.
  const [status, setStatus] = useState<{ text: string; error: boolean; pending?: boolean } | null>(null);
  const [logs, setLogs] = useState<Logs | null>(null);
  const stopLogs = useRef<(() => void) | null>(null);
  /** Which opening of the logs pane is current: a stream that comes back for an older one is stopped. */
  const logsOpening = useRef(0);
  const firstSnapshot = useRef(first);
  const busy = useRef(false);
  const again = useRef(false);
  const mounted = useRef(true);

  const refresh = useCallback(async (): Promise<void> => {
    if (busy.current) {
      again.current = true;
      return;
    }
    busy.current = true;
    try {
      const early = firstSnapshot.current;
      firstSnapshot.current = undefined;
      const next = await (early ?? source.snapshot());
      if (!mounted.current) return;
      // At rest nothing changes: the screen is drawn again only for a change, or every SAME_SNAPSHOT_MS (times shown move on).
      const text = JSON.stringify({ ...next, at: null });
      if (text === lastDrawn.current.text && Date.now() - lastDrawn.current.at < SAME_SNAPSHOT_MS) {
        // Not drawn again, but the live numbers are read as after any snapshot.
        statsNow.current();
        return;
      }
      lastDrawn.current = { text, at: Date.now() };
      setShown((before) => ({ snap: next, vms: next.vms ?? before.vms }));
    } catch (err) {
      if (mounted.current) setStatus({ text: `Could not read berth's state: ${(err as Error).message}`, error: true });
    } finally {
      busy.current = false;
      if (again.current && mounted.current) {
        again.current = false;
        void refresh();
      }
    }
  }, [source]);

  // The first screen from the state file alone, unless a whole snapshot was drawn before it came.
  const quickSnapshot = useRef(quick);
  useEffect(() => {
    const early = quickSnapshot.current;
    quickSnapshot.current = undefined;
    early?.then(
      (snap) => {
        if (mounted.current && lastDrawn.current.at === 0) setShown({ snap, vms: snap.vms ?? [] });
      },
      () => undefined,
    );
  }, []);

  useEffect(() => {
    mounted.current = true;
    let timer: NodeJS.Timeout | undefined;
    const loop = async () => {
      await refresh();
      if (mounted.current) timer = setTimeout(loop, refreshMs);
    };
    void loop();
    return () => {
      mounted.current = false;
      clearTimeout(timer);
      logsOpening.current++;
      stopLogs.current?.();
      stopLogs.current = null;
    };
  }, [refresh, refreshMs]);

  // Live numbers: asked after each snapshot and when other rows come on screen, one read at a time;
  // a read that is slow (or never ends) only delays the numbers, never the screen.
  const readStats = useCallback(() => {
    const { visible, others } = statsWanted.current;
    if (statsBusy.current || visible.length + others.length === 0) return;
    statsBusy.current = true;
    source
      .liveStats(visible, others)
      .then(
        (numbers) => {
          // Drawn again only when a number as shown changed.
          const text = [...numbers]
            .map(([ref, n]) => `${ref} ${n.cpuPercent?.toFixed(1)} ${mb(n.memoryUsedBytes)}/${mb(n.memoryLimitBytes)}`)
            .join('\n');
          if (mounted.current && text !== lastLive.current) {
            lastLive.current = text;
            setLive(numbers);
          }
        },
        () => undefined,
      )
      .finally(() => {
        statsBusy.current = false;
      });
  }, [source]);
  statsNow.current = readStats;
  useEffect(() => () => source.close?.(), [source]);

  useEffect(() => {
    if (!status || status.pending) return;
    const timer = setTimeout(() => setStatus((s) => (s === status ? null : s)), statusMs);
    return () => clearTimeout(timer);
  }, [status, statusMs]);

  const act = useCallback(
    async (label: string, action: (progress: (text: string) => void) => Promise<unknown>) => {
      setStatus({ text: `${label}…`, error: false, pending: true });
      const progress = (text: string) => {
        if (mounted.current) setStatus({ text: `${label}: ${text}`, error: false, pending: true });
      };
      try {
        const said = await action(progress);
        if (mounted.current) setStatus({ text: typeof said === 'string' && said ? said : `${label}: done`, error: false });
      } catch (err) {
        const e = err as Error & { hint?: string };
        if (mounted.current) setStatus({ text: `${label} failed: ${e.message}${e.hint ? ` ${e.hint}` : ''}`, error: true });
      }
      await refresh();
    },
    [refresh],
  );

  // --- what each tab lists, filtered and ordered ---
  const now = snap?.at ?? new Date();
  const rows = vmsKnown.map((vm) => {
    const numbers = vm.state === 'running' ? live.get(vm.ref) : undefined;
    return numbers ? { ...vm, ...numbers } : vm;
  });
  const vms = sortVms(
    rows.filter((vm) => matches(filter, vm.ref, vm.plan, vm.state, vm.nodeName ?? null)),
    sort,
    now,
  );
  const users: UserRow[] = (snap?.users ?? []).filter((u) => matches(filter, u.login, u.status, u.plan, u.telegramId));
  const plans: PlanRow[] = (snap?.plans ?? []).filter((p) => matches(filter, p.name, ...p.users));
  const events: VmEventEntry[] = (snap?.events ?? []).filter((e) => matches(filter, e.vm, e.kind, e.reason));
  const windows = snap?.maintenance.schedules ?? [];
  // Swarm: the nodes (null on one engine, which has no Nodes tab).
  const swarm = Boolean(snap?.nodes);
  const tabs = swarm ? TABS : LOCAL_TABS;
  const nodes = snap?.nodes ? snap.nodes.filter((n) => matches(filter, n.hostname, n.role, n.state, n.availability)) : null;
  const keysOf: Record<Tab, string[]> = {
    VMs: vms.map((v) => v.ref),
    Users: users.map((u) => u.login),
    Plans: plans.map((p) => p.name),
    Schedule: windows.map((s) => s.id),
    Events: events.map(eventKey),
    Nodes: (nodes ?? []).map((n) => n.id),
  };
  const current = (t: Tab): string | null => {
    const keys = keysOf[t];
    const chosen = selected[t];
    return chosen && keys.includes(chosen) ? chosen : (keys[0] ?? null);
  };
  const selectedVm = vms.find((v) => v.ref === current('VMs')) ?? null;
  const selectedUser = users.find((u) => u.login === current('Users')) ?? null;

  const move = (delta: number) => {
    const keys = keysOf[tab];
    if (keys.length === 0) return;
    const at = Math.max(0, keys.indexOf(current(tab) ?? ''));
    const next = keys[Math.min(keys.length - 1, Math.max(0, at + delta))] ?? null;
    setSelected((s) => ({ ...s, [tab]: next }));
  };

  const closeLogs = () => {
    logsOpening.current++;
    stopLogs.current?.();
    stopLogs.current = null;
    setLogs(null);
  };

  const openLogs = async (ref: string) => {
    closeLogs();
    const opening = logsOpening.current;
    const current = () => opening === logsOpening.current && mounted.current;
    setLogs({ ref, lines: [], partial: '', ended: null });
    // Text is gathered and drawn every LOG_BATCH_MS, not once per chunk.
    let pending = '';
    let timer: NodeJS.Timeout | undefined;
    const flush = () => {
      clearTimeout(timer);
      timer = undefined;
      const text = pending;
      pending = '';
      if (!text || !current()) return;
      setLogs((l) => {
        if (!l || l.ref !== ref) return l;
        const parts = (l.partial + text.replace(CONTROL, '')).split('\n');
        const partial = parts.pop() ?? '';
        return { ...l, lines: [...l.lines, ...parts].slice(-MAX_LOG_LINES), partial };
      });
    };
    const append = (text: string) => {
      if (!current()) return;
      pending = (pending + text).slice(-MAX_PENDING_LOG);
      timer ??= setTimeout(flush, LOG_BATCH_MS);
    };
    const ended = (why: string) => {
      flush();
      if (current()) setLogs((l) => (l && l.ref === ref ? { ...l, ended: why } : l));
    };
    try {
      const stop = await source.followLogs(ref, 200, append, (error) => ended(error ? `ended: ${error.message}` : 'ended'));
      if (!current()) {
        // Closed, or another VM's logs opened, while this one was being set up.
        stop();
        return;
      }
      stopLogs.current = () => {
        clearTimeout(timer);
        stop();
      };
    } catch (err) {
      ended((err as Error).message);
    }
  };

  // Keys of the same input batch (a paste, keys sent together) share a number.
  const batch = useRef({ id: 0, open: false });
  const handling = useRef(0);

  const confirm = (title: string, body: string | undefined, choices: Array<ConfirmChoice & { run: () => void }>) =>
    setModal({ kind: 'confirm', title, body, choices, batch: handling.current });

  const ui = (): UiState => ({ tab, selected: { ...selected, VMs: current('VMs') }, sort, filter });

  // Keys typed fast (or sent by tmux) arrive together ("jx"): each is handled in a render of its own,
  // so that the second acts on what the first did.
  // A key that opens a question must not be answered by the keys that came with it ("dy" pasted).
  const [queue, setQueue] = useState<Array<{ input: string; key: Key; batch: number }>>([]);
  useInput((input, key) => {
    if (!batch.current.open) {
      batch.current = { id: batch.current.id + 1, open: true };
      setImmediate(() => {
        batch.current.open = false;
      });
    }
    const id = batch.current.id;
    const split = input.length > 1 && !key.ctrl && !key.meta && !input.includes('\u001b');
    const keys = split ? [...input].map((ch) => ({ input: ch, key: { ...NO_KEY, return: ch === '\r' } })) : [{ input, key }];
    setQueue((q) => [...q, ...keys.map((k) => ({ ...k, batch: id }))]);
  });
  useEffect(() => {
    const next = queue[0];
    if (!next) return;
    setQueue((q) => q.slice(1));
    handling.current = next.batch;
    handle(next.input, next.key, next.batch);
  });

  function handle(input: string, key: Key, inBatch: number) {
    // A key puts away the last action's outcome (so that problems show again); not an action still running.
    if (status && !status.pending) setStatus(null);
    if (editingFilter) {
      if (key.return) setEditingFilter(false);
      else if (key.escape) {
        setFilter('');
        setEditingFilter(false);
      } else if (key.backspace || key.delete) setFilter((f) => f.slice(0, -1));
      else if (input && !key.ctrl && !key.meta) setFilter((f) => f + input.replace(CONTROL, ''));
      return;
    }
    if (modal) {
      if (modal.kind === 'help') setModal(null);
      else if (modal.kind === 'details') {
        if (key.escape || key.return || input === 'q') setModal(null);
      } else if (modal.kind === 'confirm') {
        if (inBatch === modal.batch) return;
        const choice = modal.choices.find((c) => c.key === input || (c.enter && key.return));
        if (key.escape || input === 'n') setModal(null);
        else if (choice) {
          setModal(null);
          choice.run();
        }
      } else if (modal.kind === 'plan') {
        const names = (snap?.plans ?? []).map((p) => p.name);
        if (key.escape) setModal(null);
        else if (key.upArrow || input === 'k') setModal({ ...modal, index: Math.max(0, modal.index - 1) });
        else if (key.downArrow || input === 'j') setModal({ ...modal, index: Math.min(names.length - 1, modal.index + 1) });
        else if (key.return) {
          const plan = names[modal.index];
          setModal(null);
          if (plan && plan !== modal.current) void act(`plan of ${modal.login} → ${plan}`, () => source.setUserPlan(modal.login, plan));
        }
      }
      return;
    }
    if (input === 'q') {
      exit();
      return;
    }
    if (key.escape) {
      if (logs) closeLogs();
      else if (filter) setFilter('');
      return;
    }
    if (input === '?') return setModal({ kind: 'help' });
    if (input === '/') {
      setEditingFilter(true);
      return;
    }
    const number = Number(input);
    if (Number.isInteger(number) && number >= 1 && number <= tabs.length) return setTab(tabs[number - 1] as Tab);
    const at = Math.max(0, tabs.indexOf(tab));
    if (key.rightArrow || (key.tab && !key.shift)) return setTab(tabs[(at + 1) % tabs.length] as Tab);
    if (key.leftArrow || (key.tab && key.shift)) return setTab(tabs[(at + tabs.length - 1) % tabs.length] as Tab);
    if (key.downArrow || input === 'j') return move(1);
    if (key.upArrow || input === 'k') return move(-1);

    if (tab === 'VMs') {
      if (input === 'o') {
        const next = VM_SORTS[(VM_SORTS.indexOf(sort) + 1) % VM_SORTS.length] as VmSort;
        setSort(next);
        setStatus({ text: `sorted by ${next}`, error: false });
        return;
      }
      const vm = selectedVm;
      if (!vm) return;
      if (input === 's') void act(`start ${vm.ref}`, () => source.startVm(vm.ref));
      else if (input === 'x') void act(`stop ${vm.ref}`, () => source.stopVm(vm.ref));
      else if (input === 'r') void act(`restart ${vm.ref}`, () => source.restartVm(vm.ref));
      else if (input === 'd')
        confirm(`Destroy VM ${vm.ref}?`, 'Its container goes; its home volume (the data) too only with D.', [
          {
            key: 'k',
            enter: true,
            label: 'destroy, keep the home (data)',
            run: () => void act(`destroy ${vm.ref}`, () => source.destroyVm(vm.ref, true)),
          },
          {
            key: 'D',
            label: 'destroy and DELETE the home (its data is lost)',
            run: () => void act(`destroy ${vm.ref} with its home`, () => source.destroyVm(vm.ref, false)),
          },
        ]);
      else if (input === 'l') {
        if (logs?.ref === vm.ref) closeLogs();
        else void openLogs(vm.ref);
      } else if (key.return) setModal({ kind: 'details', ref: vm.ref });
      else if (input === 'e') {
        if (vm.state !== 'running') setStatus({ text: `VM ${vm.ref} is not running: start it first (s).`, error: true });
        else {
          closeLogs();
          exit({ shell: vm.ref, ui: ui() });
        }
      }
      return;
    }
    if (tab === 'Users') {
      const user = selectedUser;
      if (!user) return;
      if (input === 'a') void act(`approve ${user.login}`, () => source.approveUser(user.login));
      else if (input === 'R') void act(`reject ${user.login}`, () => source.rejectUser(user.login));
      else if (input === 'v')
        confirm(`Revoke ${user.login}?`, 'They lose access to their VMs (the VMs are kept).', [
          { key: 'y', label: 'revoke', run: () => void act(`revoke ${user.login}`, () => source.revokeUser(user.login)) },
        ]);
      else if (input === 'p') {
        const names = (snap?.plans ?? []).map((p) => p.name);
        setModal({ kind: 'plan', login: user.login, current: user.plan, index: Math.max(0, names.indexOf(user.plan)) });
      }
      return;
    }
    if (tab === 'Schedule' && input === 'm') {
      const on = snap?.maintenance.on ?? false;
      confirm(
        on ? 'Turn maintenance off?' : 'Turn maintenance on?',
        on ? 'The VMs it stopped are started again.' : 'Every running VM is stopped, and VMs cannot be started until it ends.',
        [
          {
            key: 'y',
            label: on ? 'turn it off' : 'turn it on',
            run: () =>
              void act(on ? 'maintenance off' : 'maintenance on', (progress) =>
                on ? source.maintenanceOff(progress) : source.maintenanceOn(progress),
              ),
          },
        ],
      );
    }
  }

  // --- layout: everything within the screen, one line spare so the terminal never scrolls ---
  const headerLines = snap?.maintenance.on ? 3 : 2;
  const body = Math.max(4, height - 1 - headerLines - 2);
  const logsHeight = logs && tab === 'VMs' ? Math.max(3, Math.floor(body / 2)) : 0;
  const tableHeight = body - 1 - logsHeight;

  // The running VMs on screen get their numbers first; the others as the source can afford.
  const onScreen = new Set<string>();
  if (tab === 'VMs' && !modal) {
    const { first, visible } = scrollWindow(vms.length, Math.max(0, keysOf.VMs.indexOf(current('VMs') ?? '')), tableHeight);
    for (const vm of vms.slice(first, first + visible)) if (vm.state === 'running') onScreen.add(vm.ref);
  }
  statsWanted.current = {
    visible: [...onScreen],
    others: vmsKnown.filter((vm) => vm.state === 'running' && !onScreen.has(vm.ref)).map((vm) => vm.ref),
  };
  const wantedKey = statsWanted.current.visible.join(' ');
  // A new snapshot, or other rows on screen, ask for numbers again.
  useEffect(() => readStats(), [readStats, vmsKnown, wantedKey]);

  let content: React.ReactNode;
  if (!snap) content = <Text dimColor>reading berth's state…</Text>;
  else if (modal?.kind === 'help') content = <HelpOverlay width={width} />;
  else if (modal?.kind === 'details') {
    const vm = rows.find((v) => v.ref === modal.ref);
    content = vm ? <Details vm={vm} events={snap.events} height={body} /> : <Text>{`VM ${modal.ref} is gone.`}</Text>;
  } else if (modal?.kind === 'confirm') content = <ConfirmDialog title={modal.title} body={modal.body} choices={modal.choices} />;
  else if (modal?.kind === 'plan')
    content = <PlanPicker login={modal.login} current={modal.current} plans={snap.plans.map((p) => p.name)} selected={modal.index} />;
  else if (tab === 'VMs')
    content = (
      <Box flexDirection="column">
        <VmTable vms={vms} selected={current('VMs')} width={width} height={tableHeight} now={now} nodes={swarm} />
        {logs ? <LogsPane vm={logs.ref} lines={logs.lines} ended={logs.ended} height={logsHeight} width={width} /> : null}
      </Box>
    );
  else if (tab === 'Users') content = <UsersTable users={users} selected={current('Users')} width={width} height={tableHeight} />;
  else if (tab === 'Plans') content = <PlansTable plans={plans} selected={current('Plans')} width={width} height={tableHeight} />;
  else if (tab === 'Schedule')
    content = <ScheduleView maintenance={snap.maintenance} selected={current('Schedule')} width={width} height={tableHeight} />;
  else if (tab === 'Nodes') content = <NodesTable nodes={nodes} selected={current('Nodes')} width={width} height={tableHeight} />;
  else content = <EventsView events={events} selected={current('Events')} width={width} height={tableHeight} />;

  const problems = snap?.problems ?? [];
  let footer: React.ReactNode;
  if (editingFilter) footer = <Text wrap="truncate">{`/${filter}█  (Enter keeps, Esc clears)`}</Text>;
  else if (status)
    footer = (
      <Tint color={status.error ? 'red' : 'green'} wrap="truncate">
        {status.text}
      </Tint>
    );
  else if (problems.length)
    footer = (
      <Tint color="yellow" wrap="truncate">
        {problems.join('; ')}
      </Tint>
    );
  // The footer says what q does where the user is: it closes a pane before it quits.
  else if (modal?.kind === 'details') footer = <Text dimColor>q, Esc or Enter closes the details</Text>;
  else footer = <Text dimColor>{filter ? `filter: ${filter} (Esc clears)` : `sort: ${sort} · q quit`}</Text>;

  return (
    <ColourContext.Provider value={colour}>
      <Box flexDirection="column" width={width} height={height - 1}>
        <Header
          host={snap?.host ?? null}
          engine={snap?.engine ?? 'waiting'}
          daemon={snap?.daemon ?? null}
          maintenance={snap?.maintenance ?? null}
        />
        <TabBar active={tab} hint={HINTS[tab]} tabs={tabs} />
        <Box flexDirection="column" height={body} overflow="hidden">
          {content}
        </Box>
        {footer}
      </Box>
    </ColourContext.Provider>
  );
}
