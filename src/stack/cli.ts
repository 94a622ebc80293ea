import { loadConfig } from '../config';
import { UsageError } from '../errors';
import { runMain } from '../process/main';
import { clusterDown, clusterEnvironment, clusterStatus, clusterUp } from './cluster';
import { stackDown, stackStatus, stackUp } from './stack';

runMain(async () => {
  const config = loadConfig();
  const [action, ...flags] = process.argv.slice(2);
  const unknown = flags.filter((flag) => flag !== '--cluster');
  if (unknown.length > 0) throw new UsageError(`Unknown option ${unknown.join(' ')}; the only one is --cluster.`);
  // --cluster: the cluster profile (3 Kafka brokers, Redis Cluster, Temporal server on PostgreSQL), beside the single-node stack.
  const cluster = flags.includes('--cluster');
  const started = Date.now();
  switch (action) {
    case 'up':
      await (cluster ? clusterUp(config) : stackUp(config));
      console.log(`${cluster ? 'Cluster profile' : 'Stack'} up in ${((Date.now() - started) / 1000).toFixed(1)} s; state in ${config.stack.dir}${cluster ? '/cluster' : ''}.`);
      if (cluster) {
        console.log('Clients of the cluster use:');
        for (const [name, value] of Object.entries(clusterEnvironment(config))) console.log(`  ${name}=${value}`);
      }
      return 0;
    case 'down':
      await (cluster ? clusterDown(config) : stackDown(config));
      return 0;
    case 'status':
      return (await (cluster ? clusterStatus(config) : stackStatus(config))) ? 0 : 3;
    default:
      throw new UsageError(`Unknown stack action "${action}"; one of: up, down, status (add --cluster for the cluster profile).`);
  }
});
