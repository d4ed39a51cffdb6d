// Type-checks every dashboards/*.json (or every *.json in the folder given as the argument) against Grafana's own schema package (@grafana/schema).
//
// For each dashboard it writes .build/<name>.ts:
//     import type { Dashboard } from '@grafana/schema';
//     const d: Json<Dashboard> = <the JSON>;
// and runs `tsc --noEmit --strict` over them. A literal assigned to a declared type gets
// TypeScript's excess-property check, so an unknown key is an error as well as a wrong type.
//
// `Json<T>` is the schema as a JSON file can spell it: the schema declares some fields as string
// enums (ThresholdsMode, FieldColorModeId, ...), and TypeScript does not accept the plain string
// "absolute" for the enum member ThresholdsMode.Absolute, although it is exactly what the JSON
// holds. Json<T> turns each string enum into the union of its string values (`${E}`) and leaves
// everything else as Grafana declares it.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
// The folder to check: the first argument, or the repository's dashboards/.
const dashboards = resolve(process.argv[2] ?? join(here, '..', '..', 'dashboards'));
const build = join(here, '.build');
rmSync(build, { recursive: true, force: true });
mkdirSync(build);

const prelude = `import type { Dashboard } from '@grafana/schema';
type Json<T> = T extends string
  ? (string extends T ? string : \`\${T}\`)
  : T extends ReadonlyArray<infer U>
    ? Array<Json<U>>
    : T extends object
      ? { [K in keyof T]: Json<T[K]> }
      : T;
`;
const files = readdirSync(dashboards).filter((f) => f.endsWith('.json')).sort();
if (files.length === 0) {
  console.error(`no dashboards in ${dashboards}`);
  process.exit(1);
}
for (const f of files) {
  const json = JSON.parse(readFileSync(join(dashboards, f), 'utf8'));
  const name = f.replace(/\.json$/, '').replace(/[^A-Za-z0-9_]/g, '_');
  writeFileSync(join(build, `${name}.ts`), `${prelude}\nexport const d: Json<Dashboard> = ${JSON.stringify(json, null, 2)};\n`);
}
writeFileSync(join(build, 'tsconfig.json'), JSON.stringify({
  compilerOptions: {
    strict: true, noEmit: true, target: 'es2022', module: 'esnext', moduleResolution: 'bundler',
    skipLibCheck: true, exactOptionalPropertyTypes: false, typeRoots: [], types: [],
  },
  include: ['*.ts'],
}));
const tsc = join(here, 'node_modules', 'typescript', 'bin', 'tsc');
try {
  execFileSync(process.execPath, [tsc, '-p', join(build, 'tsconfig.json')], { stdio: 'inherit', cwd: here });
} catch {
  console.error('dashboards do not type-check against @grafana/schema');
  process.exit(1);
}
console.log(`${files.length} dashboards type-check against @grafana/schema ${JSON.parse(readFileSync(join(here, 'node_modules', '@grafana', 'schema', 'package.json'), 'utf8')).version}`);
