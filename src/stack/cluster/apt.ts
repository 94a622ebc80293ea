/**
 * Debian packages the cluster profile needs, installed in one apt-get transaction when we are root.
 * Kept small and apart on purpose: the single-node stack's shared, serialised apt helper can
 * replace `aptInstall` when it lands.
 */
import type { Config } from '../../config';
import { PrerequisiteError } from '../../errors';
import { runVisible, which } from '../proc';

export async function aptInstall(config: Config, packages: string[], purpose: string): Promise<void> {
  if (packages.length === 0) return;
  const list = packages.join(' ');
  const apt = which('apt-get', [...config.stack.searchPath, '/usr/bin']);
  if (!apt || process.getuid?.() !== 0) {
    throw new PrerequisiteError(`The cluster profile needs ${purpose}: install ${list} (Debian: sudo apt-get install ${list}), then run this again.`);
  }
  console.log(`Installing ${list} from Debian's packages for the cluster profile (first run only)…`);
  const env = { DEBIAN_FRONTEND: 'noninteractive' };
  try {
    await runVisible(apt, ['-qq', 'update'], { env });
    await runVisible(apt, ['-qq', 'install', '-y', '--no-install-recommends', ...packages], { env });
  } catch (err) {
    throw new PrerequisiteError(`Installing ${list} with apt-get failed (its output is above); install them by hand, then run this again.`, { cause: err });
  }
}
