// ESLint flat config. typescript-eslint's recommended rules without type information (fast),
// plus the one architectural rule this repo lives by: src/engine stays pure.
//
// Imports go one way: src/engine <- workers <- src/ui. The engine runs unchanged in Node (CLI,
// Vitest) and in a Web Worker (the browser lab), so it may import neither the UI stack, nor the
// worker glue, nor Node's builtins, nor the Node-only tfjs setup in src/node.
import { builtinModules } from 'node:module';
import js from '@eslint/js';
import { defineConfig } from 'eslint/config';
import tseslint from 'typescript-eslint';
import reactHooks from 'eslint-plugin-react-hooks';

const WHY = 'src/engine runs unchanged in Node and in a Web Worker';

/** Imports of the UI stack and of the layers above the engine: forbidden in all of src/engine. */
const uiAndWorkerPaths = [
  {
    name: 'react',
    message: `${WHY}: React belongs in src/ui.`,
  },
  {
    name: 'react-dom',
    message: `${WHY}: React belongs in src/ui.`,
  },
  {
    name: 'zustand',
    message: `${WHY}: the store belongs in src/ui.`,
  },
  {
    name: 'comlink',
    message: `${WHY}: messaging belongs in workers/; the engine emits plain events.`,
  },
  {
    name: 'recharts',
    message: `${WHY}: charts belong in src/ui (or scripts/plot.ts).`,
  },
];

const uiAndWorkerPatterns = [
  {
    group: ['react/*', 'react-dom/*', 'zustand/*', 'comlink/*', 'recharts/*'],
    message: `${WHY}: UI and messaging libraries belong in src/ui and workers/.`,
  },
  {
    // Relative paths that climb out into workers/ or src/ui/, and root-style paths to them.
    regex: '^(?:(?:\\.{1,2}/)+(?:.*/)?(?:workers|ui)|/?(?:src/ui|workers))(?:/|$)',
    message: `${WHY}: imports go one way (src/engine <- workers <- src/ui); the engine may not import from workers/ or src/ui/.`,
  },
];

/** Node-only imports: forbidden in engine sources, allowed in engine tests (they run in Node). */
const nodePaths = [
  ...new Set(builtinModules.filter((m) => !m.startsWith('_')).map((m) => m.split('/')[0])),
].map((name) => ({
  name,
  message: `${WHY}: Node builtins do not exist in a Web Worker. Keep I/O in scripts/ or src/node/.`,
}));

const nodePatterns = [
  {
    group: ['node:*', 'fs/*', 'path/*'],
    message: `${WHY}: Node builtins do not exist in a Web Worker. Keep I/O in scripts/ or src/node/.`,
  },
  {
    regex: '^(?:(?:\\.{1,2}/)+(?:.*/)?node|/?src/node)(?:/|$)',
    message: `${WHY}: src/node/ is the Node-only tfjs setup; pass a backend in instead (tests may import it).`,
  },
];

export default defineConfig(
  {
    ignores: [
      'dist/**',
      'node_modules/**',
      'playwright-report/**',
      'test-results/**',
      'coverage/**',
      'runs/**',
      // Scratch files (benchmarks, experiments) are not part of the lab.
      '**/tmp_*',
      '**/*_tmp.*',
      'tmp/**',
    ],
  },
  js.configs.recommended,
  tseslint.configs.recommended,
  {
    languageOptions: {
      ecmaVersion: 2022,
      sourceType: 'module',
    },
    linterOptions: {
      reportUnusedDisableDirectives: 'warn',
    },
    rules: {
      // Stylistic or noisy in research code; real bugs are still caught by the rest.
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_' },
      ],
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/no-empty-function': 'off',
      '@typescript-eslint/no-inferrable-types': 'off',
      '@typescript-eslint/ban-ts-comment': ['error', { 'ts-expect-error': 'allow-with-description' }],
      'prefer-const': ['warn', { destructuring: 'all' }],
      'no-constant-condition': ['error', { checkLoops: false }],
    },
  },
  {
    // The eslint config itself and other plain JS tooling run in Node.
    files: ['**/*.js', '**/*.mjs', '**/*.cjs'],
    languageOptions: {
      globals: { process: 'readonly', console: 'readonly', URL: 'readonly' },
    },
  },
  {
    files: ['src/ui/**/*.{ts,tsx}', 'workers/**/*.{ts,tsx}'],
    plugins: { 'react-hooks': reactHooks },
    rules: {
      'react-hooks/rules-of-hooks': 'error',
      'react-hooks/exhaustive-deps': 'warn',
    },
  },
  {
    // Engine sources: pure TypeScript + tfjs-core, seeded randomness, no DOM, no Node.
    files: ['src/engine/**/*.ts'],
    ignores: ['src/engine/**/*.test.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [...uiAndWorkerPaths, ...nodePaths],
          patterns: [...uiAndWorkerPatterns, ...nodePatterns],
        },
      ],
      'no-restricted-globals': [
        'error',
        ...['window', 'document', 'localStorage', 'sessionStorage', 'indexedDB'].map((name) => ({
          name,
          message: `${WHY}: there is no DOM in a worker; let src/ui or workers/ handle it.`,
        })),
        ...['process', 'require', '__dirname', '__filename', 'Buffer'].map((name) => ({
          name,
          message: `${WHY}: Node globals do not exist in a Web Worker; take the value as a parameter.`,
        })),
      ],
      'no-restricted-properties': [
        'error',
        {
          object: 'Math',
          property: 'random',
          message: 'Take an Rng (src/engine/rng.ts): a run must be reproducible from its config and seed.',
        },
      ],
    },
  },
  {
    // Engine tests run in Node (Vitest): they may use src/node and Node builtins, never the UI.
    files: ['src/engine/**/*.test.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { paths: uiAndWorkerPaths, patterns: uiAndWorkerPatterns },
      ],
    },
  },
);
