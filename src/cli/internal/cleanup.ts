import { Option } from 'clipanion';
import { CtrCommand } from '../command.js';

/** conmon's exit command for a detached container: records its exit, then --rm or the restart policy. */
export class CleanupCommand extends CtrCommand {
  static override paths = [['__cleanup']];

  runId = Option.String('--run-id', { required: true });
  id = Option.String({ name: 'ID' });

  async execute(): Promise<number> {
    const { containerExited } = await import('../../engine/cleanup.js');
    await containerExited({ ...this.context.globals, id: this.id, runId: this.runId });
    return 0;
  }
}
