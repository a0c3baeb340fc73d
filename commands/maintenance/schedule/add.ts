import { Args, Flags } from '@oclif/core';
import { BerthCommand } from '../../../src/cli/base-command.js';
import { addSchedule, type ScheduleView } from '../../../src/services/nodes/maintenance.js';

export default class ScheduleAdd extends BerthCommand {
  static override summary = 'Add a recurring maintenance window';
  static override args = { cron: Args.string({ description: 'when it starts, as a cron pattern (5 or 6 fields)', required: true }) };
  static override flags = {
    duration: Flags.string({ description: 'how long it lasts, e.g. 2h', required: true }),
    notify: Flags.string({ description: 'tell users this long before, e.g. 30m' }),
    reason: Flags.string({ description: 'shown to users' }),
    tz: Flags.string({ description: 'IANA time zone (default: the host’s)' }),
  };
  static override examples = [
    '<%= config.bin %> maintenance schedule add "0 3 * * 0" --duration 2h --notify 30m --reason "weekly updates" --tz Europe/Paris',
  ];

  async run(): Promise<ScheduleView> {
    const { args, flags } = await this.parse(ScheduleAdd);
    const view = await addSchedule(this.berth, {
      cron: args.cron,
      duration: flags.duration,
      notify: flags.notify,
      reason: flags.reason,
      tz: flags.tz,
    });
    this.log(`Added window ${view.id}: "${view.cron}" (${view.tz}) for ${view.duration}; next start ${view.nextStart}.`);
    return view;
  }
}
