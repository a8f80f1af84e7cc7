import js from '@eslint/js';
import tseslint from 'typescript-eslint';

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
      // kafkajs runs with patches (core/streams/kafkajs-patches.ts) that must load before it: one way in.
      'no-restricted-imports': ['error', { paths: [{ name: 'kafkajs', message: "import from core/streams/kafkajs.ts, which loads kafkajs' patches first" }] }],
    },
  },
  { files: ['core/streams/kafkajs.ts'], rules: { 'no-restricted-imports': 'off' } },
);
