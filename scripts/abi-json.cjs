// Compiles every abi/I*.sol interface in the given folder to <Name>.json with solc-js,
// the Solidity compiler itself: integrators get the ABI exactly as solc sees it.
// Usage: node scripts/abi-json.cjs <folder>
'use strict';
const fs = require('fs');
const path = require('path');
const solc = require('solc');

const dir = process.argv[2];
if (!dir) {
  console.error('usage: node scripts/abi-json.cjs <folder>');
  process.exit(2);
}
const files = fs.readdirSync(dir).filter((f) => /^I.*\.sol$/.test(f)).sort();
const sources = {};
for (const f of files) sources[f] = { content: fs.readFileSync(path.join(dir, f), 'utf8') };
const input = {
  language: 'Solidity',
  sources,
  settings: { outputSelection: { '*': { '*': ['abi'] } } },
};
const output = JSON.parse(solc.compile(JSON.stringify(input)));
const errors = (output.errors || []).filter((e) => e.severity === 'error');
if (errors.length) {
  for (const e of errors) console.error(e.formattedMessage);
  process.exit(1);
}
for (const f of files) {
  for (const [iface, artifact] of Object.entries(output.contracts[f])) {
    const name = iface.replace(/^I/, '');
    fs.writeFileSync(path.join(dir, `${name}.json`), JSON.stringify(artifact.abi, null, 2) + '\n');
  }
}
console.error(`solc ${solc.version()}: ${files.length} interfaces compiled to JSON`);
