import { Text, type TextProps } from 'ink';
import { createContext, useContext } from 'react';

/** Whether the TUI may colour its text (off under NO_COLOR): layout and markers carry the meaning either way. */
export const ColourContext = createContext(true);

/** Text whose colours are dropped when colour is off. */
export function Tint(props: TextProps) {
  const colour = useContext(ColourContext);
  if (colour) return <Text {...props} />;
  const { color: _c, backgroundColor: _b, ...rest } = props;
  return <Text {...rest} />;
}

export function stateColour(state: string): string {
  if (state === 'running') return 'green';
  if (state === 'creating' || state === 'created' || state === 'restarting') return 'cyan';
  if (state === 'paused') return 'yellow';
  return 'red';
}

export function statusColour(status: string): string {
  if (status === 'allowed') return 'green';
  if (status === 'pending') return 'yellow';
  return 'red';
}

export function eventColour(kind: string): string {
  if (kind === 'die' || kind === 'oom' || kind === 'destroy') return 'red';
  if (kind.endsWith('stop')) return 'yellow';
  if (kind === 'start' || kind === 'create' || kind === 'restart') return 'green';
  return 'white';
}
