import type { CommandClass } from 'clipanion';
import type { CtrContext } from './command.js';
import { CommitCommand } from './container/commit.js';
import { ContainerPruneCommand } from './container/prune.js';
import { CreateCommand } from './container/create.js';
import { AttachCommand } from './container/attach.js';
import { ExecCommand } from './container/exec.js';
import { PauseCommand } from './container/pause.js';
import { StatsCommand } from './container/stats.js';
import { UnpauseCommand } from './container/unpause.js';
import { DiffCommand } from './container/diff.js';
import { ExportCommand } from './container/export.js';
import { LogsCommand } from './container/logs.js';
import { CpCommand } from './container/cp.js';
import { TopCommand } from './container/top.js';
import { PortCommand } from './container/port.js';
import { RenameCommand } from './container/rename.js';
import { CopyWorkerCommand } from './internal/cp.js';
import { PsCommand } from './container/ps.js';
import { RmCommand } from './container/rm.js';
import { RunCommand } from './container/run.js';
import { StartCommand } from './container/start.js';
import { StopCommand } from './container/stop.js';
import { KillCommand } from './container/kill.js';
import { RestartCommand } from './container/restart.js';
import { WaitCommand } from './container/wait.js';
import { CleanupCommand } from './internal/cleanup.js';
import { HistoryCommand } from './image/history.js';
import { ImagesCommand } from './image/images.js';
import { ImportCommand } from './image/import.js';
import { InspectCommand } from './image/inspect.js';
import { ImagePruneCommand } from './image/prune.js';
import { PullCommand } from './image/pull.js';
import { PushCommand } from './image/push.js';
import { SearchCommand } from './image/search.js';
import { RmiCommand } from './image/rmi.js';
import { SaveCommand } from './image/save.js';
import { LoadCommand } from './image/load.js';
import { TagCommand } from './image/tag.js';
import { InfoCommand } from './system/info.js';
import { ReferenceCommand } from './internal/reference.js';
import { SelftestNativeCommand } from './internal/selftest.js';
import { CompletionCommand } from './system/completion.js';
import { LoginCommand } from './system/login.js';
import { LogoutCommand } from './system/logout.js';
import { VersionCommand } from './system/version.js';
import { LayerDebugCommand } from './internal/layer.js';
import { DiffTarWorkerCommand } from './internal/layer-tar.js';
import { ReassembleWorkerCommand } from './internal/reassemble.js';
import { UnpackWorkerCommand } from './internal/unpack.js';
import { UsernsCommand } from './internal/userns.js';
import { TtyTestCommand } from './internal/tty-test.js';
import { VolumeCreateCommand } from './volume/create.js';
import { VolumeInspectCommand } from './volume/inspect.js';
import { VolumeLsCommand } from './volume/ls.js';
import { VolumePopulateCommand } from './volume/populate.js';
import { VolumePruneCommand } from './volume/prune.js';
import { VolumeRmCommand } from './volume/rm.js';

/** Every command ctr has; the man pages and completions are generated from this list. */
export const commands: CommandClass<CtrContext>[] = [
  RunCommand,
  CreateCommand,
  StartCommand,
  StopCommand,
  KillCommand,
  RestartCommand,
  WaitCommand,
  PsCommand,
  RmCommand,
  LogsCommand,
  CpCommand,
  TopCommand,
  PortCommand,
  RenameCommand,
  CopyWorkerCommand,
  ExecCommand,
  AttachCommand,
  PauseCommand,
  UnpauseCommand,
  StatsCommand,
  ContainerPruneCommand,
  CommitCommand,
  DiffCommand,
  ExportCommand,
  PullCommand,
  PushCommand,
  SearchCommand,
  ImagesCommand,
  InspectCommand,
  TagCommand,
  RmiCommand,
  SaveCommand,
  LoadCommand,
  HistoryCommand,
  ImagePruneCommand,
  ImportCommand,
  VolumeCreateCommand,
  VolumeLsCommand,
  VolumeInspectCommand,
  VolumeRmCommand,
  VolumePruneCommand,
  VolumePopulateCommand,
  InfoCommand,
  VersionCommand, CompletionCommand, ReferenceCommand, SelftestNativeCommand, LoginCommand, LogoutCommand,
  UnpackWorkerCommand,
  CleanupCommand,
  ReassembleWorkerCommand,
  DiffTarWorkerCommand,
  LayerDebugCommand,
  UsernsCommand,
  TtyTestCommand,
];
