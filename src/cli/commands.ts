import type { CommandClass } from 'clipanion';
import type { CtrContext } from './command.js';
import { ContainerPruneCommand } from './container/prune.js';
import { CreateCommand } from './container/create.js';
import { LogsCommand } from './container/logs.js';
import { PsCommand } from './container/ps.js';
import { RmCommand } from './container/rm.js';
import { RunCommand } from './container/run.js';
import { StartCommand } from './container/start.js';
import { HistoryCommand } from './image/history.js';
import { ImagesCommand } from './image/images.js';
import { InspectCommand } from './image/inspect.js';
import { ImagePruneCommand } from './image/prune.js';
import { PullCommand } from './image/pull.js';
import { RmiCommand } from './image/rmi.js';
import { TagCommand } from './image/tag.js';
import { InfoCommand } from './system/info.js';
import { ReferenceCommand } from './internal/reference.js';
import { SelftestNativeCommand } from './internal/selftest.js';
import { CompletionCommand } from './system/completion.js';
import { LoginCommand } from './system/login.js';
import { LogoutCommand } from './system/logout.js';
import { VersionCommand } from './system/version.js';
import { LayerDebugCommand } from './internal/layer.js';
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
  PsCommand,
  RmCommand,
  LogsCommand,
  ContainerPruneCommand,
  PullCommand,
  ImagesCommand,
  InspectCommand,
  TagCommand,
  RmiCommand,
  HistoryCommand,
  ImagePruneCommand,
  VolumeCreateCommand,
  VolumeLsCommand,
  VolumeInspectCommand,
  VolumeRmCommand,
  VolumePruneCommand,
  VolumePopulateCommand,
  InfoCommand,
  VersionCommand, CompletionCommand, ReferenceCommand, SelftestNativeCommand, LoginCommand, LogoutCommand,
  UnpackWorkerCommand,
  ReassembleWorkerCommand,
  LayerDebugCommand,
  UsernsCommand,
  TtyTestCommand,
];
