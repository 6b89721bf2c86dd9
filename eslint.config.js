// @ts-check
const js = require('@eslint/js')
const tseslint = require('typescript-eslint')

module.exports = tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'coverage/', 'bench/results/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: { require: 'readonly', module: 'writable', process: 'readonly', console: 'readonly' }
    },
    rules: {
      // Drivers are loaded lazily with require() so an app only loads the broker it uses.
      '@typescript-eslint/no-require-imports': 'off',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-console': 'error'
    }
  },
  {
    // Scripts and the demo talk to a person on the console; tests may too.
    files: ['demo/**', 'bench/**', 'scripts/**', 'test/**', 'examples/**'],
    rules: { 'no-console': 'off' }
  },
  {
    // The demo's dashboard scripts run as plain <script>s in the browser, no build step.
    files: ['demo/public/**/*.js'],
    languageOptions: {
      sourceType: 'script',
      globals: {
        document: 'readonly',
        EventSource: 'readonly',
        fetch: 'readonly',
        setInterval: 'readonly'
      }
    }
  }
)
