import { Args } from '@oclif/core';
import { parseAppRef } from '../domain/apps.js';
import { invalidInput } from '../errors.js';
import { describeSource } from '../services/apps/apps.js';
import type { App } from '../state/schema.js';
import { checkLogin, printable } from '../values/names.js';
import { type AppView, appView } from '../views/app-view.js';

export const appArg = Args.string({ description: 'the app: USER/NAME', required: true });

/**
 * USER/NAME as the operator must write it (the operator has no apps of their own, so the user is
 * always said), checked before anything is read.
 */
export function appRefArg(text: string): { user: string; name: string; ref: string } {
  const { user, name } = parseAppRef(text);
  if (user === undefined)
    throw invalidInput('INVALID_APP_NAME', `Say whose app "${printable(name)}" is.`, `Write it as USER/NAME, e.g. alice/${name}.`);
  checkLogin(user);
  return { user, name, ref: `${user}/${name}` };
}

/** The app's view, with the service's description of its source. */
export const viewOf = (app: App): AppView => appView(app, describeSource(app.source));
