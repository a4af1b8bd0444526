// parse is the small argument parser the test programs share: positional
// arguments in _, "--name value" for the names in single (last one wins)
// and repeated (every value, in order).
'use strict'
exports.parse = function (argv, single, repeated) {
  const out = { _: [] }
  for (const r of repeated) out[r] = []
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]
    if (!arg.startsWith('--')) {
      out._.push(arg)
      continue
    }
    const name = arg.slice(2)
    if (i + 1 >= argv.length) throw new Error(`${arg} needs a value`)
    if (single.includes(name)) out[name] = argv[++i]
    else if (repeated.includes(name)) out[name].push(argv[++i])
    else throw new Error(`unknown flag ${arg}`)
  }
  return out
}
