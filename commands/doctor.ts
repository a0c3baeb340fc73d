import { BerthCommand } from '../src/cli/base-command.js';
import { checkRecordingsStore, type RecordingsCheck } from '../src/services/access/recordings.js';
import { type BackupsCheck, checkBackups } from '../src/services/backups/backups-check.js';
import { type DoctorReport, doctor } from '../src/services/nodes/reconcile.js';
import { type AppsCheck, checkApps } from '../src/services/setup/apps-check.js';
import { formatSize } from '../src/values/sizes.js';

export default class Doctor extends BerthCommand {
  static override summary =
    'Check the state file, the engine, the image, the network, its firewall rules, VM drift, what apps need and the backups';
  static override description = 'Exits 1 when something needs attention.';
  static override examples = ['<%= config.bin %> doctor', '<%= config.bin %> doctor --json'];

  async run(): Promise<DoctorReport & { apps: AppsCheck | null; recordings: RecordingsCheck | null; backups: BackupsCheck | null }> {
    await this.parse(Doctor);
    const report = await doctor(this.berth);
    // Apps: warnings and information only (a state file that cannot be read has said so already).
    const apps = report.stateFile.ok ? await checkApps(this.berth) : null;
    const recordings = report.stateFile.ok ? await checkRecordingsStore(this.store.home, await this.store.read()) : null;
    const backups = report.stateFile.ok ? await checkBackups(this.berth) : null;
    const mark = (ok: boolean) => (ok ? 'ok  ' : 'FAIL');
    this.log(
      `${mark(report.stateFile.ok)} state file ${report.stateFile.path}${report.stateFile.problem ? `: ${report.stateFile.problem}` : ''}`,
    );
    this.log(`${mark(report.engine.ok)} Docker engine ${report.engine.address} ${report.engine.version ?? report.engine.problem ?? ''}`);
    this.log(`${mark(report.image.present)} image ${report.image.ref}${report.image.present ? '' : ' missing: berth image build'}`);
    this.log(
      `${mark(!report.network.present || report.network.interVmTrafficBlocked)} network ${report.network.name}: ${report.network.present ? (report.network.interVmTrafficBlocked ? 'inter-VM traffic blocked' : 'inter-VM traffic ALLOWED') : 'made on first VM create'}`,
    );
    const fw = report.firewall;
    this.log(`${fw.state === 'ok' ? 'ok  ' : fw.state === 'off' ? 'WARN' : 'FAIL'} firewall ${fw.state}: ${fw.detail}`);
    const { keychain, sshCrypto } = report.native;
    this.log(
      `${keychain.inUse ? 'ok  ' : 'WARN'} keychain: ${keychain.inUse ? `in use (${keychain.detail})` : `not available (file fallback): ${keychain.detail}`}`,
    );
    this.log(
      `${sshCrypto.native ? 'ok  ' : 'WARN'} ssh crypto: ${sshCrypto.native ? sshCrypto.detail : `${sshCrypto.detail} — see berth's docs/troubleshooting.md`}`,
    );
    const web = report.web;
    if (web.warning) this.log(`WARN web apps: ${web.warning}`);
    else if (web.appsDomain) this.log(`ok   web apps: each on an origin of its own under ${web.appsDomain}`);
    if (report.drift) {
      const d = report.drift;
      const clean = d.orphans.length + d.missing.length + d.stuck.length === 0;
      this.log(
        `${mark(clean)} VMs: ${d.orphans.length} orphan container(s), ${d.missing.length} missing, ${d.stuck.length} interrupted${clean ? '' : ' — see berth vm reconcile'}`,
      );
    }
    for (const n of report.nodes ?? []) {
      this.log(`${mark(n.ok)} node ${n.hostname} (${n.vms} VM(s))${n.ok ? '' : `: ${n.problems.join('; ')}`}`);
    }
    if (apps) {
      const bases = apps.bases;
      if (!bases) this.log(`WARN app base images not checked: ${apps.basesProblem}`);
      else if (bases.every((b) => b.present)) this.log(`ok   app base images: ${bases.map((b) => b.image).join(', ')}`);
      for (const i of apps.indexes.filter((x) => x.ok)) this.log(`ok   ${i.key} ${i.url} ${i.detail}`);
      for (const warning of apps.warnings) this.log(`WARN ${warning}`);
      this.log(`info apps.dockerfile ${apps.dockerfile.detail}`);
    }
    if (recordings) {
      const plans = recordings.plansRecording.length ? `; plans: ${recordings.plansRecording.join(', ')}` : '';
      this.log(
        `info session recording ${recordings.mode}${plans}: ${recordings.count} recording(s), ${formatSize(recordings.totalBytes)} of ${formatSize(recordings.maxBytes)}`,
      );
      for (const warning of recordings.warnings) this.log(`WARN ${warning}`);
    }
    if (backups) {
      const plans = backups.plansBackingUp.length ? `; plans: ${backups.plansBackingUp.join(', ')}` : '; no plan backs homes up';
      if (!backups.initialised) this.log(`info backup repository ${backups.repository}: not initialised${plans}`);
      else if (backups.check?.ok) this.log(`ok   backup repository ${backups.repository}: restic check passed${plans}`);
      for (const failure of backups.failures) this.log(`FAIL ${failure}`);
      for (const warning of backups.warnings) this.log(`WARN ${warning}`);
    }
    if (!report.healthy || (backups?.failures.length ?? 0) > 0) process.exitCode = 1;
    return { ...report, apps, recordings, backups };
  }
}
