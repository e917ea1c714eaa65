// Lint rules for the whole repository: typed rules (no-floating-promises) everywhere.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules', '.wrangler', '.headstart', 'models', '.cache', 'coverage', 'dist'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        project: ['./tsconfig.json', './tsconfig.edge.json', './tsconfig.widgets.json'],
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/consistent-type-assertions': [
        'error',
        { assertionStyle: 'as', objectLiteralTypeAssertions: 'never' },
      ],
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
      ],
      'no-restricted-imports': 'off',
    },
  },
  {
    files: ['src/shared/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['node:*', 'cloudflare:*', 'onnxruntime-*'],
              message: 'src/shared runs in workerd and Node: no runtime-specific imports.',
            },
            {
              group: ['**/edge/**', '**/gpu-worker/**'],
              message: 'src/shared must not depend on a wing.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['src/edge/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/gpu-worker/**', 'onnxruntime-node', 'node:*'],
              message: 'The edge meets the worker only over HTTP and R2.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['src/gpu-worker/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/edge/**', 'onnxruntime-web', 'onnxruntime-web/*', 'cloudflare:*'],
              message: 'The worker meets the edge only over HTTP and R2.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['src/cli/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: [
                '**/edge/**',
                '**/gpu-worker/**',
                '**/widgets/**',
                'cloudflare:*',
                'onnxruntime-*',
              ],
              message: 'The CLI is an API client: it shares only src/shared with the rest.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['src/widgets/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/edge/**', '**/gpu-worker/**', 'node:*', 'cloudflare:*', 'onnxruntime-*'],
              message: 'Widgets run in the browser and meet the edge only over HTTP.',
            },
            {
              group: ['zod', 'hono', 'hono/*'],
              message: 'Widgets ship without runtime dependencies (bundle size).',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    extends: [tseslint.configs.disableTypeChecked],
  },
);
