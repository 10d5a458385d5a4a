// ESLint flat config: typescript-eslint's type-checked recommended set plus the rules that catch
// this codebase's real failure modes (a dropped promise in the tick, a promise passed where a
// callback is expected, == on pids); formatting is Prettier's job (npm run format).
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'coverage/**', 'node_modules/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  ...tseslint.configs.stylisticTypeChecked,
  {
    languageOptions: {
      globals: globals.node,
      parserOptions: {
        projectService: { allowDefaultProject: ['*.js', '*.cjs', 'vitest.config.ts', 'bin/*.js', 'deploy/docker/*.mjs'] },
        tsconfigRootDir: import.meta.dirname,
      },
    },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      // V8's linear-time engine takes the `l` flag (src/safe-regex.ts); the rule does not know it.
      'no-invalid-regexp': ['error', { allowConstructorFlags: ['l'] }],
      eqeqeq: ['error', 'always', { null: 'ignore' }],
      'no-console': 'off',
      'prefer-const': 'error',
      'object-shorthand': 'error',
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'separate-type-imports' }],
      '@typescript-eslint/consistent-type-exports': 'error',
      '@typescript-eslint/no-import-type-side-effects': 'error',
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/await-thenable': 'error',
      // A `return promise` inside try/catch skips the catch: the tick's guards depend on it.
      '@typescript-eslint/return-await': ['error', 'in-try-catch'],
      // Collectors, notifiers and Fastify plugins are async by contract even when one has nothing to await.
      '@typescript-eslint/require-await': 'off',
      // `||` on strings is deliberate where '' means "not set" (env values, empty paths).
      '@typescript-eslint/prefer-nullish-coalescing': ['error', { ignorePrimitives: { string: true } }],
      // Passing on a caught `unknown` or an AbortSignal's reason is fine; rejecting with a literal is not.
      '@typescript-eslint/prefer-promise-reject-errors': ['error', { allowThrowingAny: true, allowThrowingUnknown: true }],
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_' },
      ],
    },
  },
  {
    // Tests read JSON answers (`res.json()` is `any`) and assert on them; typing every answer adds noise, not safety.
    files: ['test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      // tests reject with non-Errors on purpose: the tick must survive them
      '@typescript-eslint/prefer-promise-reject-errors': 'off',
    },
  },
  {
    // Small parts (issue #10): a file a newcomer reads in one sitting, a function that fits a screen.
    files: ['src/**/*.ts', 'routes/**/*.ts'],
    rules: {
      'max-lines': ['error', { max: 300 }],
      'max-lines-per-function': ['error', { max: 80 }],
    },
  },
  {
    // Plain JavaScript (launcher, healthcheck, these configs) is not in a tsconfig project.
    files: ['**/*.js', '**/*.cjs', '**/*.mjs'],
    ...tseslint.configs.disableTypeChecked,
  },
);
