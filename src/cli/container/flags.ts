import { Option } from 'clipanion';
import { CtrError } from '../../errors.js';
import type { ContainerOptions } from '../../engine/run-options.js';
import { authFileOption, certDirOption, credsOption, registryAccess, tlsVerifyOption } from '../options.js';
import { CtrCommand } from '../command.js';

/** The flags `create` and `run` share: one class, two commands. */
export abstract class ContainerFlagsCommand extends CtrCommand {
  name = Option.String('--name', { description: 'name of the container (default: a generated one)' });
  interactive = Option.Boolean('-i,--interactive', false, { description: 'keep standard input open and pass it to the container' });
  tty = Option.Boolean('-t,--tty', false, { description: 'give the container a terminal' });
  rm = Option.Boolean('--rm', false, { description: 'remove the container (and its anonymous volumes) when it exits' });
  env = Option.Array('-e,--env', [], { description: 'set an environment variable: NAME=VALUE, or NAME to pass on your own' });
  envFile = Option.Array('--env-file', [], { description: 'read environment variables from a file' });
  workdir = Option.String('-w,--workdir', { description: 'working directory inside the container' });
  user = Option.String('-u,--user', { description: 'run as USER[:GROUP] (names or numeric ids)' });
  groupAdd = Option.Array('--group-add', [], { description: 'additional groups to join' });
  entrypoint = Option.String('--entrypoint', { description: "override the image's ENTRYPOINT ('' clears it)" });
  hostname = Option.String('-h,--hostname', { description: 'host name inside the container' });
  labels = Option.Array('-l,--label', [], { description: 'set a label: KEY=VALUE' });
  volumes = Option.Array('-v,--volume', [], { description: 'bind mount or volume: SRC:DST[:ro|rw], NAME:DST, or DST (anonymous)' });
  mounts = Option.Array('--mount', [], { description: 'type=bind|volume|tmpfs,source=...,target=...[,readonly]' });
  tmpfs = Option.Array('--tmpfs', [], { description: 'mount a tmpfs: DST[:OPTIONS]' });
  readOnly = Option.Boolean('--read-only', false, { description: "mount the container's root file system read-only" });
  capAdd = Option.Array('--cap-add', [], { description: 'add a Linux capability (or ALL)' });
  capDrop = Option.Array('--cap-drop', [], { description: 'drop a Linux capability (or ALL)' });
  privileged = Option.Boolean('--privileged', false, { description: 'give every capability, no seccomp or masked paths' });
  securityOpt = Option.Array('--security-opt', [], { description: 'no-new-privileges, seccomp=unconfined|PROFILE.json, label=disable' });
  ulimits = Option.Array('--ulimit', [], { description: 'resource limit: NAME=SOFT[:HARD], e.g. nofile=1024:2048' });
  init = Option.Boolean('--init', false, { description: 'run an init process (catatonit or tini) that forwards signals and reaps zombies' });
  cidfile = Option.String('--cidfile', { description: 'write the container ID to this file' });
  pull = Option.String('--pull', 'missing', { description: 'pull the image: missing (default), always, never' });
  network = Option.String('--network,--net', { description: 'none (default: a private network with loopback) or host' });
  stopSignal = Option.String('--stop-signal', { description: 'signal that stops the container (default: the image’s, or SIGTERM)' });
  stopTimeout = Option.String('--stop-timeout', { description: 'seconds to wait after the stop signal before SIGKILL' });
  platform = Option.String('--platform', { description: 'OS/ARCH[/VARIANT] of the image to pull' });
  memory = Option.String('-m,--memory', { description: 'memory limit, e.g. 512m' });
  cpus = Option.String('--cpus', { description: 'number of CPUs, e.g. 1.5' });
  pidsLimit = Option.String('--pids-limit', { description: 'maximum number of processes' });
  shmSize = Option.String('--shm-size', { description: 'size of /dev/shm (default 64m)' });
  runtime = Option.String('--runtime', { description: 'OCI runtime: a name on PATH or a path (default: crun, then runc)' });
  restart = Option.String('--restart', { description: 'restart policy of a detached container: no (default), on-failure[:MAX], always, unless-stopped' });
  tlsVerify = tlsVerifyOption();
  certDir = certDirOption();
  authFile = authFileOption();
  creds = credsOption();
  image = Option.String({ name: 'IMAGE' });
  args = Option.Proxy({ name: 'COMMAND' });

  protected containerOptions(): ContainerOptions & ReturnType<typeof registryAccess> {
    if (!['missing', 'always', 'never'].includes(this.pull)) throw new CtrError(`--pull takes missing, always or never, not "${this.pull}"`);
    const stopTimeout = this.stopTimeout === undefined ? undefined : Number(this.stopTimeout);
    if (stopTimeout !== undefined && !Number.isInteger(stopTimeout)) throw new CtrError(`--stop-timeout takes whole seconds, not "${this.stopTimeout}"`);
    return {
      ...registryAccess(this),
      image: this.image,
      args: this.args,
      name: this.name,
      interactive: this.interactive,
      tty: this.tty,
      rm: this.rm,
      env: this.env,
      envFile: this.envFile,
      workdir: this.workdir,
      user: this.user,
      groupAdd: this.groupAdd,
      entrypoint: this.entrypoint,
      hostname: this.hostname,
      labels: this.labels,
      volumes: this.volumes,
      mounts: this.mounts,
      tmpfs: this.tmpfs,
      readOnly: this.readOnly,
      capAdd: this.capAdd,
      capDrop: this.capDrop,
      privileged: this.privileged,
      securityOpt: this.securityOpt,
      ulimits: this.ulimits,
      init: this.init,
      cidfile: this.cidfile,
      pull: this.pull as ContainerOptions['pull'],
      network: this.network,
      stopSignal: this.stopSignal,
      stopTimeout,
      platform: this.platform,
      memory: this.memory,
      cpus: this.cpus,
      pidsLimit: this.pidsLimit,
      shmSize: this.shmSize,
      runtime: this.runtime ?? this.context.globals.runtime,
      restart: this.restart,
    };
  }
}
