import type { CommandClass } from 'clipanion';
import type { CtrContext } from './command.js';

/** A command ctr has: the paths that run it (its class's `static paths`) and how to load its module. */
export interface CommandEntry {
  paths: string[][];
  load: () => Promise<CommandClass<CtrContext>>;
}

/**
 * Every command ctr has, in the order of `ctr --help`, the man pages and completions. A command's
 * module is loaded only when it may run: evaluating them all and building clipanion's parser for
 * every one cost ~50 ms on each start. `allCommands` checks the paths here against the classes'.
 */
export const commandTable: CommandEntry[] = [
  { paths: [['run'], ['container', 'run']], load: async () => (await import('./container/run.js')).RunCommand },
  { paths: [['create'], ['container', 'create']], load: async () => (await import('./container/create.js')).CreateCommand },
  { paths: [['start'], ['container', 'start']], load: async () => (await import('./container/start.js')).StartCommand },
  { paths: [['stop'], ['container', 'stop']], load: async () => (await import('./container/stop.js')).StopCommand },
  { paths: [['kill'], ['container', 'kill']], load: async () => (await import('./container/kill.js')).KillCommand },
  { paths: [['restart'], ['container', 'restart']], load: async () => (await import('./container/restart.js')).RestartCommand },
  { paths: [['wait'], ['container', 'wait']], load: async () => (await import('./container/wait.js')).WaitCommand },
  { paths: [['ps'], ['container', 'ls'], ['container', 'list'], ['container', 'ps']], load: async () => (await import('./container/ps.js')).PsCommand },
  { paths: [['rm'], ['container', 'rm'], ['container', 'remove']], load: async () => (await import('./container/rm.js')).RmCommand },
  { paths: [['logs'], ['container', 'logs']], load: async () => (await import('./container/logs.js')).LogsCommand },
  { paths: [['cp'], ['container', 'cp']], load: async () => (await import('./container/cp.js')).CpCommand },
  { paths: [['top'], ['container', 'top']], load: async () => (await import('./container/top.js')).TopCommand },
  { paths: [['port'], ['container', 'port']], load: async () => (await import('./container/port.js')).PortCommand },
  { paths: [['rename'], ['container', 'rename']], load: async () => (await import('./container/rename.js')).RenameCommand },
  { paths: [['__cp']], load: async () => (await import('./internal/cp.js')).CopyWorkerCommand },
  { paths: [['exec'], ['container', 'exec']], load: async () => (await import('./container/exec.js')).ExecCommand },
  { paths: [['attach'], ['container', 'attach']], load: async () => (await import('./container/attach.js')).AttachCommand },
  { paths: [['pause'], ['container', 'pause']], load: async () => (await import('./container/pause.js')).PauseCommand },
  { paths: [['unpause'], ['container', 'unpause']], load: async () => (await import('./container/unpause.js')).UnpauseCommand },
  { paths: [['stats'], ['container', 'stats']], load: async () => (await import('./container/stats.js')).StatsCommand },
  { paths: [['container', 'prune']], load: async () => (await import('./container/prune.js')).ContainerPruneCommand },
  { paths: [['commit'], ['container', 'commit']], load: async () => (await import('./container/commit.js')).CommitCommand },
  { paths: [['diff'], ['container', 'diff']], load: async () => (await import('./container/diff.js')).DiffCommand },
  { paths: [['export'], ['container', 'export']], load: async () => (await import('./container/export.js')).ExportCommand },
  { paths: [['pull'], ['image', 'pull']], load: async () => (await import('./image/pull.js')).PullCommand },
  { paths: [['push'], ['image', 'push']], load: async () => (await import('./image/push.js')).PushCommand },
  { paths: [['search']], load: async () => (await import('./image/search.js')).SearchCommand },
  { paths: [['images'], ['image', 'ls'], ['image', 'list']], load: async () => (await import('./image/images.js')).ImagesCommand },
  { paths: [['inspect'], ['image', 'inspect'], ['container', 'inspect']], load: async () => (await import('./image/inspect.js')).InspectCommand },
  { paths: [['tag'], ['image', 'tag']], load: async () => (await import('./image/tag.js')).TagCommand },
  { paths: [['rmi'], ['image', 'rm'], ['image', 'remove']], load: async () => (await import('./image/rmi.js')).RmiCommand },
  { paths: [['save'], ['image', 'save']], load: async () => (await import('./image/save.js')).SaveCommand },
  { paths: [['load'], ['image', 'load']], load: async () => (await import('./image/load.js')).LoadCommand },
  { paths: [['history'], ['image', 'history']], load: async () => (await import('./image/history.js')).HistoryCommand },
  { paths: [['image', 'prune']], load: async () => (await import('./image/prune.js')).ImagePruneCommand },
  { paths: [['import'], ['image', 'import']], load: async () => (await import('./image/import.js')).ImportCommand },
  { paths: [['volume', 'create']], load: async () => (await import('./volume/create.js')).VolumeCreateCommand },
  { paths: [['volume', 'ls'], ['volume', 'list']], load: async () => (await import('./volume/ls.js')).VolumeLsCommand },
  { paths: [['volume', 'inspect']], load: async () => (await import('./volume/inspect.js')).VolumeInspectCommand },
  { paths: [['volume', 'rm'], ['volume', 'remove']], load: async () => (await import('./volume/rm.js')).VolumeRmCommand },
  { paths: [['volume', 'prune']], load: async () => (await import('./volume/prune.js')).VolumePruneCommand },
  { paths: [['__volume-populate']], load: async () => (await import('./volume/populate.js')).VolumePopulateCommand },
  { paths: [['info'], ['system', 'info']], load: async () => (await import('./system/info.js')).InfoCommand },
  { paths: [['version']], load: async () => (await import('./system/version.js')).VersionCommand },
  { paths: [['completion']], load: async () => (await import('./system/completion.js')).CompletionCommand },
  { paths: [['__reference']], load: async () => (await import('./internal/reference.js')).ReferenceCommand },
  { paths: [['__selftest-native']], load: async () => (await import('./internal/selftest.js')).SelftestNativeCommand },
  { paths: [['login']], load: async () => (await import('./system/login.js')).LoginCommand },
  { paths: [['logout']], load: async () => (await import('./system/logout.js')).LogoutCommand },
  { paths: [['__unpack']], load: async () => (await import('./internal/unpack.js')).UnpackWorkerCommand },
  { paths: [['__cleanup']], load: async () => (await import('./internal/cleanup.js')).CleanupCommand },
  { paths: [['__reassemble']], load: async () => (await import('./internal/reassemble.js')).ReassembleWorkerCommand },
  { paths: [['__diff-tar']], load: async () => (await import('./internal/layer-tar.js')).DiffTarWorkerCommand },
  { paths: [['__layer']], load: async () => (await import('./internal/layer.js')).LayerDebugCommand },
  { paths: [['__userns']], load: async () => (await import('./internal/userns.js')).UsernsCommand },
  { paths: [['__tty-test']], load: async () => (await import('./internal/tty-test.js')).TtyTestCommand },
];

/**
 * The commands argv may name, each under only its primary path (which --help shows) and the paths
 * argv can take: clipanion's parser grows with every path of every command registered. Every
 * command when argv names none.
 */
export async function candidateCommands(argv: string[]): Promise<CommandClass<CtrContext>[]> {
  const [first, second] = argv;
  const named = (path: string[]) => path[0] === first && (path.length === 1 || path[1] === second);
  const hits = first && !first.startsWith('-') ? commandTable.filter((e) => e.paths.some(named)) : [];
  if (hits.length === 0) return allCommands();
  return Promise.all(
    hits.map(async (entry) => {
      const command = await entry.load();
      const paths = [entry.paths[0]!, ...entry.paths.slice(1).filter(named)];
      if (paths.length === entry.paths.length) return command;
      // A subclass, so that the command itself keeps every path for --help of the others and the man pages.
      return class extends (command as unknown as new () => object) {
        static paths = paths;
      } as unknown as CommandClass<CtrContext>;
    }),
  );
}

/** Every command, failing when a class's paths differ from its entry's (the build runs this through `__reference`). */
export async function allCommands(): Promise<CommandClass<CtrContext>[]> {
  const classes = await Promise.all(commandTable.map((e) => e.load()));
  classes.forEach((c, i) => {
    const listed = JSON.stringify(commandTable[i]!.paths);
    if (JSON.stringify(c.paths) !== listed) throw new Error(`src/cli/commands.ts lists ${c.name} under ${listed} but its class has ${JSON.stringify(c.paths)}`);
  });
  return classes;
}
