import js from '@eslint/js';
import tseslint from 'typescript-eslint';

// kafkajs runs with patches (core/streams/kafkajs-patches.ts) that must load before it: one way in.
const kafkajsOneWayIn = { name: 'kafkajs', message: "import from core/streams/kafkajs.ts, which loads kafkajs' patches first" };
const kafkajsInternals = { regex: '^kafkajs/', message: 'kafkajs internals are reached in core/streams/kafkajs-patches.ts only (ARCHITECTURE.md, design rule 7)' };
// Only core/streams/ touches the Kafka client (ARCHITECTURE.md, design rule 6); everything else goes through core/seams.ts.
const kafkaClientInStreamsOnly = {
  regex: '(^|/)streams/kafkajs(\\.[cm]?[jt]s)?$',
  message: 'only core/streams/ touches the Kafka client: use the seams in core/seams.ts (StreamBus, ConsumerLagSource) and core/streams/connection.ts',
};

const STAGES = ['gateway', 'bridge', 'consumers', 'dashboard', 'rules'];
/** An import of anything in the top-level `folder` (a relative path climbing up into it). */
const importOf = (folder, message) => ({ regex: `(^|/)\\.\\./(\\.\\./)*${folder}/`, message });
function stageBoundaries() {
  const forbidden = (folder) => importOf(folder, `stages meet only at core/seams.ts: do not import ${folder}/ here (ARCHITECTURE.md)`);
  // Which queue and store a process uses is the roles' choice (cli/roles/); stages get them through the seams.
  const adapters = [
    { regex: '(^|/)core/streams/(?!kafkajs(\\.[cm]?[jt]s)?$)', message: 'stages reach the queue through core/seams.ts; the roles in cli/roles/ choose and open the adapters of core/streams/' },
    { regex: '(^|/)stores/influx(\\.[cm]?[jt]s)?$', message: 'stages reach the store through core/seams.ts (ReadingStore); the roles in cli/roles/ open the InfluxDB store' },
    { regex: '(^|/)sinks/(rabbitmq|kinesis|pulsar)(\\.[cm]?[jt]s)?$', message: 'stages reach a forward sink through core/seams.ts (Sink); cli/roles/sinks.ts opens them' },
  ];
  const rule = (folders, extra = []) => ['error', { paths: [kafkajsOneWayIn], patterns: [kafkajsInternals, kafkaClientInStreamsOnly, ...extra, ...folders.map(forbidden)] }];
  return [
    ...STAGES.map((stage) => ({ files: [`${stage}/**/*.ts`], ignores: ['dashboard/web/**'], rules: { 'no-restricted-imports': rule([...STAGES.filter((other) => other !== stage), 'cli', 'bench', 'simulators'], adapters) } })),
    { files: ['core/**/*.ts'], ignores: ['core/streams/**'], rules: { 'no-restricted-imports': rule([...STAGES, 'cli', 'bench', 'simulators']) } },
  ];
}

// One way to log an error (core/logger.ts): the error itself under `err`, which keeps its stack, code, retriable
// and cause. Only its message (`err: error.message`, `String(error)`, a message in the text) drops them.
const LOG_CALL = 'CallExpression[callee.property.name=/^(trace|debug|info|warn|error|fatal)$/]:not([callee.object.name=/^(console|program)$/])';
const ERROR_FIELD = `${LOG_CALL} > ObjectExpression > Property[key.name=/^(err|error|cause|failure)$/]`;
const logTheErrorItself = 'log the error itself under `err` (`{ err: error }`): its serializer keeps the stack, code, retriable and cause that its message alone drops (core/logger.ts)';
const oneWayToLogAnError = [
  'error',
  ...[
    `${ERROR_FIELD} MemberExpression[property.name=/^(message|stack)$/]`,
    `${ERROR_FIELD} > Identifier.value[name=/^(message|msg|errorMessage)$/]`,
    `${ERROR_FIELD} > CallExpression.value[callee.name='String']`,
    `${ERROR_FIELD} > TemplateLiteral.value`,
    `${LOG_CALL} > TemplateLiteral MemberExpression[property.name=/^(message|stack)$/]`,
    `${LOG_CALL} > MemberExpression[property.name=/^(message|stack)$/]`,
  ].map((selector) => ({ selector, message: logTheErrorItself })),
];

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'data/**', 'test-results/**', 'dashboard/public/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: 'readonly', console: 'readonly', Buffer: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', setInterval: 'readonly', clearInterval: 'readonly', URL: 'readonly' } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-console': 'off',
      'no-restricted-imports': ['error', { paths: [kafkajsOneWayIn], patterns: [kafkajsInternals, kafkaClientInStreamsOnly] }],
    },
  },
  // Where the Kafka client may be used: core/streams/ (behind the seams), the bench's raw-Kafka baseline (it measures
  // kafkajs without Sluice), the scripts that start and probe Kafka, and the tests' support (raw producers, admin
  // inspection and kafkajs's own partitioner and errors as references; tests reach the client only through it).
  // Still through core/streams/kafkajs.ts, for its patches.
  {
    files: ['core/streams/**', 'bench/baselines.ts', 'scripts/**', 'test/support/**'],
    rules: { 'no-restricted-imports': ['error', { paths: [kafkajsOneWayIn], patterns: [kafkajsInternals] }] },
  },
  { files: ['core/streams/kafkajs.ts'], rules: { 'no-restricted-imports': 'off' } },
  // Stages meet only at core/seams.ts (ARCHITECTURE.md): a stage imports core/ and itself, never another stage or
  // the wiring in cli/; core/ imports no stage. Listed after the kafkajs rules, which it repeats for these folders.
  ...stageBoundaries(),
  // scripts/ (the services, the private Kafka cluster) sit under the bench and the tests: they import core/ and
  // themselves, never what uses them. Repeats the kafkajs rules of scripts/ above.
  {
    files: ['scripts/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [kafkajsOneWayIn],
          patterns: [
            kafkajsInternals,
            ...[...STAGES, 'cli', 'bench', 'simulators', 'test'].map((folder) => importOf(folder, `scripts/ import core/ and scripts/ only: do not import ${folder}/ here (ARCHITECTURE.md)`)),
          ],
        },
      ],
    },
  },
  {
    files: ['**/*.ts'],
    // kafkajs-patches.ts is kafkajs' own code, logging through kafkajs' logger.
    ignores: ['core/streams/kafkajs-patches.ts'],
    rules: { 'no-restricted-syntax': oneWayToLogAnError },
  },
);
