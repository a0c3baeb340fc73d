import { Args, Flags } from '@oclif/core';
import { BerthCommand } from '../../src/cli/base-command.js';
import { setNodeEngine } from '../../src/services/nodes/nodes.js';
import type { NodeView } from '../../src/views/node-view.js';
import { nodeArg, nodeText } from './show.js';

export default class NodeEngine extends BerthCommand {
  static override summary = "Say how berth reaches a node's own engine (exec, logs, stats and homes go there)";
  static override description =
    'ENDPOINT is a Docker context name, ssh://USER@HOST, tcp://HOST:2376 (TLS: ca.pem, cert.pem, key.pem in --tls-dir, default ~/.docker) or unix:///path. The engine must answer and be that node, or nothing is changed.';
  static override args = {
    node: nodeArg,
    endpoint: Args.string({ description: 'Docker context, ssh://…, tcp://… or unix://…', required: true }),
  };
  static override flags = {
    'tls-dir': Flags.string({ description: 'For tcp://: the directory with ca.pem, cert.pem and key.pem' }),
  };
  static override examples = [
    '<%= config.bin %> node engine worker-1 ssh://berth@worker-1',
    '<%= config.bin %> node engine worker-2 tcp://10.0.0.12:2376 --tls-dir /etc/berth/worker-2',
    '<%= config.bin %> node engine worker-3 worker-3-context',
  ];

  async run(): Promise<NodeView> {
    const { args, flags } = await this.parse(NodeEngine);
    const view = await setNodeEngine(this.berth, args.node, args.endpoint, flags['tls-dir']);
    this.log(nodeText(view));
    return view;
  }
}
