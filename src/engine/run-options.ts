import type { RegistryAccessOptions } from './pull.js';
import type { EngineOptions } from './context.js';

/** Everything `ctr create` and `ctr run` take, as docker names it. */
export interface ContainerOptions {
  image: string;
  /** Command and arguments after the image name. */
  args: string[];
  name?: string;
  interactive?: boolean;
  tty?: boolean;
  rm?: boolean;
  env?: string[];
  envFile?: string[];
  workdir?: string;
  user?: string;
  groupAdd?: string[];
  /** undefined: the image's; '' clears it. */
  entrypoint?: string;
  hostname?: string;
  labels?: string[];
  volumes?: string[];
  mounts?: string[];
  tmpfs?: string[];
  readOnly?: boolean;
  capAdd?: string[];
  capDrop?: string[];
  privileged?: boolean;
  securityOpt?: string[];
  ulimits?: string[];
  init?: boolean;
  cidfile?: string;
  pull?: 'missing' | 'always' | 'never';
  network?: string;
  stopSignal?: string;
  stopTimeout?: number;
  platform?: string;
  memory?: string;
  cpus?: string;
  pidsLimit?: string;
  shmSize?: string;
  runtime?: string;
  /** --restart no|on-failure[:N]|always|unless-stopped */
  restart?: string;
}

export type CreateOptions = ContainerOptions & EngineOptions & RegistryAccessOptions;
