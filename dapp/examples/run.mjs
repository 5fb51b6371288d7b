// Runs a TypeScript example with Node 20: the TypeScript compiler strips the types, then Node
// imports the result (no extra tooling).
import { readFileSync, writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import ts from 'typescript';

const file = process.argv[2];
const { outputText } = ts.transpileModule(readFileSync(file, 'utf8'), {
  compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
});
const out = file.replace(/\.ts$/, '.gen.mjs');
writeFileSync(out, outputText);
await import(pathToFileURL(out).href);
