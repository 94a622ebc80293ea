import type { DebianPackage } from './apt';
import type { ManagedProcess } from './proc';

/** One service of the local stack, as `stack:up`, `down` and `status` see it. */
export interface Service {
  name: string;
  label: string;
  /** What `up` prints: the address each endpoint answers on. */
  address: string;
  extraAddresses?: { label: string; address: string }[];
  proc: ManagedProcess;
  startTimeoutMs: number;
  /** Debian packages it runs from, installed (when missing) in one apt transaction with the others'. */
  packages?: DebianPackage[];
  isHealthy(): Promise<boolean>;
  /** Downloads or builds what it runs from, under a lock; stops and cleans up when `signal` aborts. */
  install?(signal: AbortSignal): Promise<void>;
  start(): Promise<void>;
  /** Settings applied once it answers, when the stack runs it (not to a service found running elsewhere). */
  configure?(): Promise<void>;
}
