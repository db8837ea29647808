import neostandard from 'neostandard'

export default [
  ...neostandard({ ts: true, ignores: ['dist/**', '.tap/**', 'coverage/**'] }),
  {
    rules: {
      '@typescript-eslint/no-explicit-any': 'error'
    }
  }
]
