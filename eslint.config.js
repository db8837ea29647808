import globals from 'globals'
import neostandard, { plugins } from 'neostandard'

export default [
  ...neostandard({ ts: true, ignores: ['dist/**', '.tap/**', 'coverage/**'] }),
  {
    files: ['**/*.ts'],
    plugins: { '@typescript-eslint': plugins['typescript-eslint'].plugin },
    rules: {
      '@typescript-eslint/no-explicit-any': 'error'
    }
  },
  {
    files: ['client/web/**/*.js', 'client/admin/**/*.js'],
    languageOptions: { globals: globals.browser }
  }
]
