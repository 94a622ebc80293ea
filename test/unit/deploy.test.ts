/**
 * The deployment files (Dockerfile, docker-compose.yml, deploy/k8s) checked against the
 * contract and against src/config.ts: no Docker or cluster needed, only parsing. Each check
 * names the file and the thing at fault, so that a broken manifest says what to fix.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { ConfigError, ENVIRONMENT_VARIABLES, loadConfig, type Config, type Environment } from '../../src/config';

type Obj = Record<string, unknown>;

/** The contract's names (CONTRACT.md), which every deployment must keep. */
const CONTRACT = {
  inputTopic: 'user-login',
  outputTopic: 'processed-topic',
  dlqTopic: 'user-login-dlq',
  groupId: 'login-pipeline',
  taskQueue: 'login-pipeline',
  insightsWorkflowId: 'login-insights',
  kafkaPort: 9092,
  temporalPort: 7233,
  temporalUiPort: 8233,
  redisPort: 6379,
} as const;

/** The one image allowed on latest: the original take-home's generator, published under no other tag. */
const ORIGINAL_GENERATOR_IMAGE = 'mpradeep954/fetch-de-data-gen:latest';

const root = findRoot(__dirname);
const K8S_DIR = join(root, 'deploy', 'k8s');

function findRoot(from: string): string {
  let dir = from;
  while (!existsSync(join(dir, 'package.json')) || !existsSync(join(dir, 'src', 'config.ts'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error(`no repository root above ${from}`);
    dir = up;
  }
  return dir;
}

function read(relative: string): string {
  return readFileSync(join(root, relative), 'utf8');
}

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function obj(v: unknown, what: string): Obj {
  assert.ok(isObj(v), `${what} is missing or not a mapping (found ${JSON.stringify(v)})`);
  return v;
}

function arr(v: unknown, what: string): unknown[] {
  assert.ok(Array.isArray(v), `${what} is missing or not a list (found ${JSON.stringify(v)})`);
  return v;
}

function str(v: unknown, what: string): string {
  assert.ok(typeof v === 'string' || typeof v === 'number', `${what} is missing or not a string (found ${JSON.stringify(v)})`);
  return String(v);
}

/** Loads an environment, turning a ConfigError into a failure that lists the bad variables. */
function configOf(env: Environment, what: string): Config {
  try {
    return loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) assert.fail(`${what}: loadConfig rejects it: ${err.problems.join('; ')}`);
    throw err;
  }
}

/**
 * A deployment batches as the product's defaults do, which are what the benchmark measures: a
 * copied default goes stale when the default moves (compose once cut batches of 500 records).
 */
function assertDefaultBatches(config: Config, what: string): void {
  const defaults = loadConfig({}).batch;
  assert.equal(config.batch.maxRecords, defaults.maxRecords, `${what}: BATCH_MAX_RECORDS is ${config.batch.maxRecords}, not the product's default ${defaults.maxRecords}`);
  assert.equal(config.batch.maxWaitMs, defaults.maxWaitMs, `${what}: BATCH_MAX_WAIT_MS is ${config.batch.maxWaitMs}, not the product's default ${defaults.maxWaitMs}`);
}

function assertContractNames(config: Config, what: string): void {
  assert.equal(config.kafka.inputTopic, CONTRACT.inputTopic, `${what}: INPUT_TOPIC`);
  assert.equal(config.kafka.outputTopic, CONTRACT.outputTopic, `${what}: OUTPUT_TOPIC`);
  assert.equal(config.kafka.dlqTopic, CONTRACT.dlqTopic, `${what}: DLQ_TOPIC`);
  assert.equal(config.kafka.groupId, CONTRACT.groupId, `${what}: KAFKA_GROUP_ID`);
  assert.equal(config.temporal.taskQueue, CONTRACT.taskQueue, `${what}: TEMPORAL_TASK_QUEUE`);
  assert.equal(config.temporal.insightsWorkflowId, CONTRACT.insightsWorkflowId, `${what}: INSIGHTS_WORKFLOW_ID`);
}

function assertKnownVariables(names: string[], what: string): void {
  const known = new Set(ENVIRONMENT_VARIABLES);
  const unknown = names.filter((n) => !known.has(n));
  assert.deepEqual(unknown, [], `${what}: variables that src/config.ts does not read: ${unknown.join(', ')}`);
}

/** An image reference's tag: after the last ':' of the last path segment (a registry port is not a tag). */
function imageTag(ref: string): string | undefined {
  const withoutDigest = ref.split('@')[0] ?? ref;
  const lastSegment = withoutDigest.slice(withoutDigest.lastIndexOf('/') + 1);
  const colon = lastSegment.lastIndexOf(':');
  return colon === -1 ? undefined : lastSegment.slice(colon + 1);
}

// ---------------------------------------------------------------------------------------------
// docker-compose.yml
// ---------------------------------------------------------------------------------------------

interface PublishedPort {
  hostIp?: string;
  published: number;
  target: number;
}

/** Both compose port syntaxes: "[ip:]published:target[/proto]", "target", or the long form. */
function publishedPorts(service: Obj, what: string): PublishedPort[] {
  if (service.ports === undefined) return [];
  return arr(service.ports, `${what}.ports`).map((p, i) => {
    if (isObj(p)) {
      const target = Number(p.target);
      return { hostIp: p.host_ip === undefined ? undefined : String(p.host_ip), published: Number(p.published ?? target), target };
    }
    const spec = str(p, `${what}.ports[${i}]`).replace(/\/(tcp|udp)$/, '');
    const parts = spec.split(':');
    const target = Number(parts.at(-1));
    if (parts.length === 1) return { published: target, target };
    if (parts.length === 2) return { published: Number(parts[0]), target };
    return { hostIp: parts.slice(0, -2).join(':'), published: Number(parts.at(-2)), target };
  });
}

function assertPublishes(services: Obj, name: string, port: number): void {
  const ports = publishedPorts(obj(services[name], `services.${name}`), `services.${name}`);
  const match = ports.find((p) => p.published === port);
  assert.ok(match, `docker-compose.yml: ${name} must publish port ${port} (the contract's local-stack address); it publishes ${JSON.stringify(ports)}`);
  assert.ok(
    match.hostIp === undefined || ['127.0.0.1', '0.0.0.0', 'localhost'].includes(match.hostIp),
    `docker-compose.yml: ${name} publishes ${port} on ${match.hostIp}, not reachable as 127.0.0.1:${port}`,
  );
}

/** A service's environment as strings, from the mapping or the KEY=value list form. */
function environmentOf(service: Obj, what: string): Record<string, string> {
  const env = service.environment;
  if (env === undefined) return {};
  if (Array.isArray(env)) {
    return Object.fromEntries(
      env.map((entry, i) => {
        const text = str(entry, `${what}.environment[${i}]`);
        const eq = text.indexOf('=');
        return eq === -1 ? [text, ''] : [text.slice(0, eq), text.slice(eq + 1)];
      }),
    );
  }
  return Object.fromEntries(Object.entries(obj(env, `${what}.environment`)).map(([k, v]) => [k, v === null ? '' : String(v)]));
}

/** The host:port pairs a KAFKA_ADVERTISED_LISTENERS value hands to clients. */
function advertisedAddresses(listeners: string): string[] {
  return listeners.split(',').map((l) => l.trim().replace(/^[A-Za-z0-9_]+:\/\//, ''));
}

function healthcheckText(service: Obj, what: string): string {
  const test = obj(service.healthcheck, `${what}.healthcheck`).test;
  return Array.isArray(test) ? test.map(String).join(' ') : str(test, `${what}.healthcheck.test`);
}

describe('deployment files', () => {
  describe('docker-compose.yml', () => {
    let compose: Obj;
    let services: Obj;

    before(() => {
      compose = obj(parse(read('docker-compose.yml'), { merge: true, uniqueKeys: true }), 'docker-compose.yml');
      services = obj(compose.services, 'docker-compose.yml: services');
    });

    it('has the stack, the original generator and the pipeline services', () => {
      for (const name of ['kafka', 'temporal', 'redis', 'data-generator', 'worker', 'bridge', 'dashboard']) {
        assert.ok(isObj(services[name]), `docker-compose.yml: no service "${name}"`);
      }
    });

    it('pins every image to a tag (the original generator, published only as latest, aside)', () => {
      for (const [name, value] of Object.entries(services)) {
        const service = obj(value, `services.${name}`);
        assert.ok(service.image !== undefined || service.build !== undefined, `docker-compose.yml: ${name} has neither image nor build`);
        if (service.image === undefined) continue;
        const image = str(service.image, `services.${name}.image`);
        if (name === 'data-generator') {
          assert.equal(image, ORIGINAL_GENERATOR_IMAGE, `docker-compose.yml: data-generator must be the original take-home's image`);
          continue;
        }
        const tag = imageTag(image);
        assert.ok(tag, `docker-compose.yml: ${name}'s image "${image}" has no tag`);
        assert.notEqual(tag, 'latest', `docker-compose.yml: ${name}'s image "${image}" is not pinned`);
      }
    });

    it('publishes the contract local-stack addresses', () => {
      assertPublishes(services, 'kafka', CONTRACT.kafkaPort);
      assertPublishes(services, 'temporal', CONTRACT.temporalPort);
      assertPublishes(services, 'temporal', CONTRACT.temporalUiPort);
      assertPublishes(services, 'redis', CONTRACT.redisPort);
      const kafkaEnv = environmentOf(obj(services.kafka, 'services.kafka'), 'services.kafka');
      const advertised = advertisedAddresses(kafkaEnv.KAFKA_ADVERTISED_LISTENERS ?? '');
      assert.ok(
        advertised.includes(`127.0.0.1:${CONTRACT.kafkaPort}`) || advertised.includes(`localhost:${CONTRACT.kafkaPort}`),
        `docker-compose.yml: kafka must advertise 127.0.0.1:${CONTRACT.kafkaPort} to the host; it advertises ${advertised.join(', ')}`,
      );
    });

    it('keeps the stack state in named volumes and checks the stack health', () => {
      const volumes = obj(compose.volumes, 'docker-compose.yml: volumes');
      for (const name of ['kafka', 'temporal', 'redis']) {
        const service = obj(services[name], `services.${name}`);
        const mounts = arr(service.volumes, `docker-compose.yml: ${name}.volumes`).map((v) => (isObj(v) ? String(v.source) : String(v).split(':')[0]));
        assert.ok(
          mounts.some((m) => m !== undefined && m in volumes),
          `docker-compose.yml: ${name} must keep its data in a named volume declared under volumes:`,
        );
        assert.ok(service.healthcheck, `docker-compose.yml: ${name} has no healthcheck (the pipeline waits for service_healthy)`);
      }
      const redisCommand = ([] as unknown[]).concat(obj(services.redis, 'services.redis').command ?? []).map(String).join(' ');
      assert.match(redisCommand, /--appendonly yes/, 'docker-compose.yml: redis must run with --appendonly yes');
    });

    it('has the data generator write to the contract input topic on the containers\' Kafka listener', () => {
      const env = environmentOf(obj(services['data-generator'], 'services.data-generator'), 'services.data-generator');
      assert.equal(env.KAFKA_TOPIC, CONTRACT.inputTopic, 'docker-compose.yml: data-generator KAFKA_TOPIC');
      const kafkaEnv = environmentOf(obj(services.kafka, 'services.kafka'), 'services.kafka');
      const advertised = advertisedAddresses(kafkaEnv.KAFKA_ADVERTISED_LISTENERS ?? '');
      assert.ok(
        advertised.includes(env.BOOTSTRAP_SERVERS ?? ''),
        `docker-compose.yml: data-generator BOOTSTRAP_SERVERS=${env.BOOTSTRAP_SERVERS} is not one of kafka's advertised listeners (${advertised.join(', ')})`,
      );
    });

    for (const [name, portVariable] of [
      ['worker', 'WORKER_HTTP_PORT'],
      ['bridge', 'BRIDGE_HTTP_PORT'],
      ['dashboard', 'DASHBOARD_PORT'],
    ] as const) {
      describe(name, () => {
        let service: Obj;
        let env: Record<string, string>;

        before(() => {
          service = obj(services[name], `services.${name}`);
          env = environmentOf(service, `services.${name}`);
        });

        it('is built from the Dockerfile', () => {
          assert.ok(service.build !== undefined, `docker-compose.yml: ${name} must have build: (the Dockerfile)`);
        });

        it('sets only variables that src/config.ts reads, and a valid configuration that batches as the defaults do', () => {
          assertKnownVariables(Object.keys(env), `docker-compose.yml: ${name}`);
          const config = configOf(env, `docker-compose.yml: ${name}`);
          assertContractNames(config, `docker-compose.yml: ${name}`);
          assertDefaultBatches(config, `docker-compose.yml: ${name}`);
        });

        it('points at the stack containers, not at the host', () => {
          const config = configOf(env, `docker-compose.yml: ${name}`);
          const kafkaEnv = environmentOf(obj(services.kafka, 'services.kafka'), 'services.kafka');
          const advertised = advertisedAddresses(kafkaEnv.KAFKA_ADVERTISED_LISTENERS ?? '');
          for (const broker of config.kafka.brokers) {
            assert.ok(advertised.includes(broker), `docker-compose.yml: ${name} KAFKA_BROKERS ${broker} is not one of kafka's advertised listeners (${advertised.join(', ')})`);
          }
          const temporalHost = config.temporal.address.split(':')[0] ?? '';
          assert.ok(temporalHost in services, `docker-compose.yml: ${name} TEMPORAL_ADDRESS ${config.temporal.address} does not name a service`);
          const redisHost = new URL(config.redis.url).hostname;
          assert.ok(redisHost in services, `docker-compose.yml: ${name} REDIS_URL ${config.redis.url} does not name a service`);
        });

        it('waits for a healthy stack, publishes its HTTP port and checks /healthz on it', () => {
          const dependsOn = obj(service.depends_on, `docker-compose.yml: ${name}.depends_on`);
          for (const dep of ['kafka', 'temporal', 'redis']) {
            assert.equal(
              obj(dependsOn[dep], `docker-compose.yml: ${name}.depends_on.${dep}`).condition,
              'service_healthy',
              `docker-compose.yml: ${name} must wait for ${dep} with condition service_healthy`,
            );
          }
          const port = Number(env[portVariable]);
          assert.ok(Number.isInteger(port) && port > 0, `docker-compose.yml: ${name} must set ${portVariable}`);
          const published = publishedPorts(service, `services.${name}`);
          assert.ok(
            published.some((p) => p.target === port),
            `docker-compose.yml: ${name} must publish its ${portVariable} ${port}; it publishes ${JSON.stringify(published)}`,
          );
          const check = healthcheckText(service, `services.${name}`);
          assert.ok(check.includes(`:${port}/healthz`), `docker-compose.yml: ${name}'s healthcheck must fetch /healthz on port ${port}: ${check}`);
        });
      });
    }
  });

  // -------------------------------------------------------------------------------------------
  // deploy/k8s
  // -------------------------------------------------------------------------------------------

  describe('deploy/k8s', () => {
    interface Manifest {
      file: string;
      doc: Obj;
      kind: string;
      name: string;
    }
    let manifests: Manifest[];
    let configData: Record<string, string>;
    let secretData: Record<string, string>;

    const yamlFiles = (): string[] => readdirSync(K8S_DIR).filter((f) => /\.ya?ml$/.test(f)).sort();
    const ofKind = (kind: string): Manifest[] => manifests.filter((m) => m.kind === kind);

    before(() => {
      manifests = [];
      for (const file of yamlFiles()) {
        if (file === 'kustomization.yaml' || file === 'kustomization.yml') continue;
        for (const [i, document] of parseAllDocuments(readFileSync(join(K8S_DIR, file), 'utf8')).entries()) {
          assert.deepEqual(document.errors.map(String), [], `deploy/k8s/${file}, document ${i + 1}: does not parse`);
          const value: unknown = document.toJS();
          if (value === null || value === undefined) continue; // an empty document between ---
          const doc = obj(value, `deploy/k8s/${file}, document ${i + 1}`);
          const metadata = isObj(doc.metadata) ? doc.metadata : {};
          manifests.push({ file, doc, kind: String(doc.kind), name: String(metadata.name) });
        }
      }
      const configMaps = manifests.filter((m) => m.kind === 'ConfigMap');
      const secrets = manifests.filter((m) => m.kind === 'Secret');
      assert.equal(configMaps.length, 1, 'deploy/k8s should hold exactly one ConfigMap');
      assert.equal(secrets.length, 1, 'deploy/k8s should hold exactly one Secret');
      configData = Object.fromEntries(Object.entries(obj(configMaps[0]!.doc.data, 'ConfigMap data')).map(([k, v]) => [k, String(v)]));
      const secret = secrets[0]!.doc;
      secretData = {
        ...Object.fromEntries(Object.entries(isObj(secret.data) ? secret.data : {}).map(([k, v]) => [k, Buffer.from(String(v), 'base64').toString('utf8')])),
        ...Object.fromEntries(Object.entries(isObj(secret.stringData) ? secret.stringData : {}).map(([k, v]) => [k, v === null ? '' : String(v)])),
      };
    });

    it('has apiVersion, kind and metadata.name on every document', () => {
      assert.ok(manifests.length > 0, 'deploy/k8s: no manifests');
      for (const m of manifests) {
        assert.ok(typeof m.doc.apiVersion === 'string' && m.doc.apiVersion, `deploy/k8s/${m.file}: a document without apiVersion`);
        assert.ok(typeof m.doc.kind === 'string' && m.doc.kind, `deploy/k8s/${m.file}: a document without kind`);
        const metadata = obj(m.doc.metadata, `deploy/k8s/${m.file}: ${m.kind} metadata`);
        assert.ok(typeof metadata.name === 'string' && metadata.name, `deploy/k8s/${m.file}: a ${m.kind} without metadata.name`);
      }
    });

    it('lists every file in kustomization.yaml, and nothing that is missing', () => {
      const kustomization = obj(parse(readFileSync(join(K8S_DIR, 'kustomization.yaml'), 'utf8')), 'kustomization.yaml');
      const listed = arr(kustomization.resources, 'kustomization.yaml resources').map(String);
      const files = yamlFiles().filter((f) => !/^kustomization\.ya?ml$/.test(f));
      const unlisted = files.filter((f) => !listed.includes(f));
      assert.deepEqual(unlisted, [], `kustomization.yaml: resources do not list ${unlisted.join(', ')}`);
      const missing = listed.filter((f) => !files.includes(f));
      assert.deepEqual(missing, [], `kustomization.yaml: lists files that do not exist: ${missing.join(', ')}`);
    });

    it('uses only variables that src/config.ts reads in the ConfigMap and the Secret', () => {
      assertKnownVariables(Object.keys(configData), 'deploy/k8s ConfigMap');
      assertKnownVariables(Object.keys(secretData), 'deploy/k8s Secret');
    });

    it('loads as a valid configuration with the contract names that batches as the defaults do (ConfigMap, then Secret)', () => {
      const config = configOf({ ...configData, ...secretData }, 'deploy/k8s ConfigMap + Secret');
      assertContractNames(config, 'deploy/k8s ConfigMap');
      assertDefaultBatches(config, 'deploy/k8s ConfigMap');
    });

    it('holds only marked placeholders in the Secret', () => {
      const secret = ofKind('Secret')[0]!.doc;
      assert.equal(secret.type, 'Opaque', 'deploy/k8s Secret: type must be Opaque');
      for (const [key, value] of Object.entries(secretData)) {
        assert.ok(value === '' || value.includes('REPLACE_ME'), `deploy/k8s Secret: ${key} looks like a real value; commit placeholders marked REPLACE_ME only`);
      }
    });

    for (const [component, portVariable] of [
      ['worker', 'WORKER_HTTP_PORT'],
      ['bridge', 'BRIDGE_HTTP_PORT'],
    ] as const) {
      describe(`${component} Deployment`, () => {
        let deployment: Obj;
        let podSpec: Obj;
        let container: Obj;
        let port: number;

        before(() => {
          const found = ofKind('Deployment').find((m) => m.name.endsWith(component));
          assert.ok(found, `deploy/k8s: no Deployment for the ${component}`);
          deployment = found.doc;
          podSpec = obj(obj(obj(deployment.spec, 'spec').template, 'spec.template').spec, 'spec.template.spec');
          const containers = arr(podSpec.containers, `${component} containers`);
          assert.equal(containers.length, 1, `deploy/k8s: the ${component} Deployment should have one container`);
          container = obj(containers[0], `${component} container`);
          port = Number(configData[portVariable]);
          assert.ok(Number.isInteger(port) && port > 0, `deploy/k8s ConfigMap: ${portVariable} must be set`);
        });

        /** A probe's or Service's port, a number or the name of a containerPort, as a number. */
        const resolvePort = (value: unknown): number => {
          if (typeof value === 'number') return value;
          const named = arr(container.ports ?? [], `${component} ports`).map((p) => obj(p, 'port')).find((p) => p.name === value);
          assert.ok(named, `deploy/k8s ${component}: no containerPort named ${String(value)}`);
          return Number(named.containerPort);
        };

        it(`runs the ${component} entry point of the product image`, () => {
          assert.match(str(container.image, `${component} image`), /^login-pipeline:0\.1\.0$/, `deploy/k8s ${component}: image`);
          const command = [...((container.command as unknown[]) ?? []), ...((container.args as unknown[]) ?? [])].map(String).join(' ');
          assert.ok(command.includes(`lib/src/${component}/main.js`), `deploy/k8s ${component}: command should run lib/src/${component}/main.js, runs "${command}"`);
        });

        it(`serves on the ConfigMap ${portVariable}, probed at /readyz and /healthz`, () => {
          const http = arr(container.ports, `${component} ports`).map((p) => obj(p, 'port')).find((p) => p.name === 'http');
          assert.ok(http, `deploy/k8s ${component}: no containerPort named http`);
          assert.equal(Number(http.containerPort), port, `deploy/k8s ${component}: containerPort http must equal the ConfigMap ${portVariable}`);
          for (const [probe, path] of [
            ['readinessProbe', '/readyz'],
            ['livenessProbe', '/healthz'],
          ] as const) {
            const httpGet = obj(obj(container[probe], `deploy/k8s ${component} ${probe}`).httpGet, `deploy/k8s ${component} ${probe}.httpGet`);
            assert.equal(httpGet.path, path, `deploy/k8s ${component}: ${probe} path`);
            assert.equal(resolvePort(httpGet.port), port, `deploy/k8s ${component}: ${probe} must probe the ConfigMap ${portVariable} ${port}`);
          }
          const annotations = obj(obj(obj(deployment.spec, 'spec').template, 'template').metadata, 'template.metadata').annotations;
          const scrape = obj(annotations, `deploy/k8s ${component} pod annotations`);
          assert.equal(scrape['prometheus.io/scrape'], 'true', `deploy/k8s ${component}: prometheus.io/scrape`);
          assert.equal(Number(scrape['prometheus.io/port']), port, `deploy/k8s ${component}: prometheus.io/port must be ${port}`);
          assert.equal(scrape['prometheus.io/path'], '/metrics', `deploy/k8s ${component}: prometheus.io/path`);
        });

        it('reads the ConfigMap, then the Secret', () => {
          const sources = arr(container.envFrom, `deploy/k8s ${component} envFrom`).map((s) => obj(s, 'envFrom'));
          const configMap = ofKind('ConfigMap')[0]!.name;
          const secret = ofKind('Secret')[0]!.name;
          const order = sources.map((s) => (isObj(s.configMapRef) ? `cm:${String(s.configMapRef.name)}` : isObj(s.secretRef) ? `s:${String(s.secretRef.name)}` : '?'));
          assert.deepEqual(order, [`cm:${configMap}`, `s:${secret}`], `deploy/k8s ${component}: envFrom must load ConfigMap ${configMap} then Secret ${secret} (the Secret's REDIS_URL wins)`);
        });

        it('has resource requests and limits, with at least 300Mi of memory', () => {
          const resources = obj(container.resources, `deploy/k8s ${component} resources`);
          for (const side of ['requests', 'limits'] as const) {
            const values = obj(resources[side], `deploy/k8s ${component} resources.${side}`);
            for (const resource of ['cpu', 'memory']) {
              assert.ok(values[resource] !== undefined, `deploy/k8s ${component}: resources.${side}.${resource} missing`);
            }
          }
          const limit = bytes(String(obj(resources.limits, 'limits').memory));
          const request = bytes(String(obj(resources.requests, 'requests').memory));
          assert.ok(limit >= 300 * 1024 ** 2, `deploy/k8s ${component}: memory limit ${String(obj(resources.limits, 'limits').memory)} is below the 300Mi RSS target`);
          assert.ok(request <= limit, `deploy/k8s ${component}: memory request above the limit`);
        });

        it('runs non-root on a read-only filesystem and stops gracefully', () => {
          const podSecurity = obj(podSpec.securityContext ?? {}, 'pod securityContext');
          const containerSecurity = obj(container.securityContext, `deploy/k8s ${component} securityContext`);
          assert.equal(containerSecurity.runAsNonRoot ?? podSecurity.runAsNonRoot, true, `deploy/k8s ${component}: runAsNonRoot`);
          assert.equal(containerSecurity.readOnlyRootFilesystem, true, `deploy/k8s ${component}: readOnlyRootFilesystem`);
          assert.ok(Number(podSpec.terminationGracePeriodSeconds) >= 30, `deploy/k8s ${component}: terminationGracePeriodSeconds too short for a graceful stop`);
        });

        it('is selected by its Service, HorizontalPodAutoscaler and PodDisruptionBudget', () => {
          const podLabels = obj(obj(obj(deployment.spec, 'spec').template, 'template').metadata, 'template.metadata').labels as Obj;
          const selects = (selector: unknown): boolean =>
            isObj(selector) && Object.entries(selector).length > 0 && Object.entries(selector).every(([k, v]) => podLabels[k] === v);
          const name = str(obj(deployment.metadata, 'metadata').name, 'name');
          const service = ofKind('Service').find((m) => selects(obj(m.doc.spec, 'spec').selector));
          assert.ok(service, `deploy/k8s: no Service selects the ${component} pods`);
          const servicePorts = arr(obj(service.doc.spec, 'spec').ports, 'Service ports').map((p) => obj(p, 'port'));
          assert.ok(
            servicePorts.some((p) => resolvePort(p.targetPort ?? p.port) === port),
            `deploy/k8s: Service ${service.name} must target the ${component}'s port ${port}`,
          );
          const hpa = ofKind('HorizontalPodAutoscaler').find((m) => obj(obj(m.doc.spec, 'spec').scaleTargetRef, 'scaleTargetRef').name === name);
          assert.ok(hpa, `deploy/k8s: no HorizontalPodAutoscaler scales ${name}`);
          assert.equal(hpa.doc.apiVersion, 'autoscaling/v2', `deploy/k8s: HPA ${hpa.name} apiVersion`);
          const pdb = ofKind('PodDisruptionBudget').find((m) => selects(obj(obj(m.doc.spec, 'spec').selector, 'selector').matchLabels));
          assert.ok(pdb, `deploy/k8s: no PodDisruptionBudget covers the ${component} pods`);
        });
      });
    }

    it('runs on a Redis Cluster and exports traces over OTLP', () => {
      const config = configOf({ ...configData, ...secretData }, 'deploy/k8s ConfigMap + Secret');
      assert.ok(config.redis.clusterNodes && config.redis.clusterNodes.length >= 3, 'deploy/k8s ConfigMap: REDIS_CLUSTER_NODES should name the Redis Cluster (three seed nodes)');
      assert.ok(config.redis.waitReplicas >= 1, 'deploy/k8s ConfigMap: a batch should wait for a replica of its counts (REDIS_WAIT_REPLICAS)');
      assert.ok(config.tracing, 'deploy/k8s ConfigMap: OTEL_EXPORTER_OTLP_ENDPOINT should point at a collector');
    });

    describe('keda overlay (the bridge scaled on consumer lag)', () => {
      const KEDA_DIR = join(K8S_DIR, 'keda');
      let kustomization: Obj;
      let scaled: Obj;

      before(() => {
        kustomization = obj(parse(readFileSync(join(KEDA_DIR, 'kustomization.yaml'), 'utf8')), 'keda/kustomization.yaml');
        const docs = parseAllDocuments(readFileSync(join(KEDA_DIR, 'bridge-scaledobject.yaml'), 'utf8')).map((d) => d.toJS() as Obj);
        scaled = obj(docs.find((d) => d.kind === 'ScaledObject'), 'keda/bridge-scaledobject.yaml ScaledObject');
        assert.ok(docs.some((d) => d.kind === 'TriggerAuthentication'), 'keda/bridge-scaledobject.yaml: a TriggerAuthentication for the SASL credentials');
      });

      it('builds on the base, adds the ScaledObject and removes the bridge HPA that KEDA would refuse to share the Deployment with', () => {
        const resources = arr(kustomization.resources, 'keda/kustomization.yaml resources').map(String);
        assert.ok(resources.includes('../'), 'keda/kustomization.yaml: resources must include the base (../)');
        assert.ok(resources.includes('bridge-scaledobject.yaml'), 'keda/kustomization.yaml: resources must include bridge-scaledobject.yaml');
        const patches = arr(kustomization.patches, 'keda/kustomization.yaml patches').map((p) => String(obj(p, 'patch').patch));
        assert.ok(
          patches.some((p) => p.includes('$patch: delete') && p.includes('HorizontalPodAutoscaler') && p.includes('login-pipeline-bridge')),
          'keda/kustomization.yaml: must delete the base HorizontalPodAutoscaler login-pipeline-bridge',
        );
      });

      it("scales the bridge Deployment on its group's lag on the input topic, at most one replica per partition", () => {
        const spec = obj(scaled.spec, 'ScaledObject spec');
        assert.equal(obj(spec.scaleTargetRef, 'scaleTargetRef').name, 'login-pipeline-bridge');
        const trigger = obj(arr(spec.triggers, 'triggers').map((t) => obj(t, 'trigger')).find((t) => t.type === 'kafka'), 'a kafka trigger');
        const metadata = obj(trigger.metadata, 'kafka trigger metadata');
        assert.equal(metadata.consumerGroup, configData.KAFKA_GROUP_ID, 'the kafka trigger watches the ConfigMap KAFKA_GROUP_ID');
        assert.equal(metadata.topic, configData.INPUT_TOPIC, 'the kafka trigger watches the ConfigMap INPUT_TOPIC');
        assert.equal(metadata.bootstrapServers, configData.KAFKA_BROKERS, 'the kafka trigger asks the ConfigMap KAFKA_BROKERS');
        assert.equal(String(metadata.allowIdleConsumers), 'false', 'no more bridges than partitions');
        assert.ok(Number(spec.minReplicaCount) >= 2, 'two bridges at least, for availability');
        assert.ok(Number(metadata.lagThreshold) > 0, 'a lag threshold');
      });
    });

    it('puts every namespaced object in the Namespace it creates', () => {
      const namespaces = ofKind('Namespace');
      assert.equal(namespaces.length, 1, 'deploy/k8s should hold exactly one Namespace');
      const namespace = namespaces[0]!.name;
      for (const m of manifests.filter((x) => x.kind !== 'Namespace')) {
        assert.equal(obj(m.doc.metadata, 'metadata').namespace, namespace, `deploy/k8s/${m.file}: ${m.kind} ${m.name} is not in namespace ${namespace}`);
      }
    });
  });

  // -------------------------------------------------------------------------------------------
  // Dockerfile
  // -------------------------------------------------------------------------------------------

  describe('Dockerfile', () => {
    let lines: string[];

    before(() => {
      // Joins continuation lines, drops comments.
      lines = read('Dockerfile')
        .replace(/\\\r?\n/g, ' ')
        .split(/\r?\n/)
        .map((l) => l.trim())
        .filter((l) => l && !l.startsWith('#'));
    });

    it('pins every base image to a tag, never latest', () => {
      const stages = new Set<string>();
      const froms = lines.filter((l) => /^FROM\s/i.test(l));
      assert.ok(froms.length > 0, 'Dockerfile: no FROM line');
      for (const line of froms) {
        const words = line.split(/\s+/).slice(1).filter((w) => !w.startsWith('--'));
        const image = words[0] ?? '';
        const as = words.findIndex((w) => w.toLowerCase() === 'as');
        if (!stages.has(image.toLowerCase())) {
          assert.ok(!image.includes('$'), `Dockerfile: "${line}" takes its image from a variable; pin it literally`);
          const tag = imageTag(image);
          assert.ok(tag, `Dockerfile: "${line}" has no tag`);
          assert.notEqual(tag, 'latest', `Dockerfile: "${line}" uses latest`);
        }
        if (as !== -1 && words[as + 1]) stages.add(words[as + 1]!.toLowerCase());
      }
    });

    it('runs the final stage as a non-root user with NODE_ENV=production, the worker by default', () => {
      const lastFrom = lines.map((l) => /^FROM\s/i.test(l)).lastIndexOf(true);
      const final = lines.slice(lastFrom);
      const users = final.filter((l) => /^USER\s/i.test(l)).map((l) => l.split(/\s+/)[1] ?? '');
      assert.ok(users.length > 0, 'Dockerfile: the final stage sets no USER (it would run as root)');
      assert.ok(!/^(root|0)(:|$)/.test(users.at(-1)!), `Dockerfile: the final stage runs as ${users.at(-1)}`);
      assert.ok(final.some((l) => /^ENV\s.*NODE_ENV[= ]production/i.test(l)), 'Dockerfile: the final stage must set NODE_ENV=production');
      const cmd = final.filter((l) => /^CMD\s/i.test(l)).at(-1) ?? '';
      assert.ok(cmd.includes('lib/src/worker/main.js'), `Dockerfile: the default command should be the worker, is "${cmd}"`);
    });
  });
});

/** A Kubernetes memory quantity in bytes (Ki/Mi/Gi, k/M/G, or plain). */
function bytes(quantity: string): number {
  const match = /^(\d+(?:\.\d+)?)([KMGTE]i?|k)?$/.exec(quantity.trim());
  assert.ok(match, `not a memory quantity: ${quantity}`);
  const units: Record<string, number> = {
    '': 1,
    k: 1e3,
    K: 1e3,
    M: 1e6,
    G: 1e9,
    T: 1e12,
    E: 1e18,
    Ki: 1024,
    Mi: 1024 ** 2,
    Gi: 1024 ** 3,
    Ti: 1024 ** 4,
    Ei: 1024 ** 6,
  };
  return Number(match[1]) * (units[match[2] ?? ''] ?? Number.NaN);
}
