// The npm registry these machines reach serves only Linux builds of platform-specific
// optional packages (@swc/core-darwin-arm64 and the like answer 404), so `npm install` leaves
// them out of package-lock.json and `npm ci` then refuses the lock as out of sync. This adds
// an entry (version, os, cpu, optional) for each one; `npm ci` skips them by platform without
// fetching. Run `npm run lockfile:complete` after changing dependencies.
const fs = require('fs');
const file = process.argv[2] ?? require('path').join(__dirname, '..', 'package-lock.json');
const lock = JSON.parse(fs.readFileSync(file, 'utf8'));
const pk = lock.packages;
let added = 0;
function platformOf(name) {
  const n = name.split('/').pop();
  const os = ['darwin', 'win32', 'linux', 'android', 'freebsd', 'openharmony', 'netbsd', 'openbsd', 'sunos', 'aix', 'wasm32'].find((o) =>
    n.includes(o),
  );
  const cpu = ['arm64', 'x64', 'ia32', 'arm', 'ppc64', 's390x', 'riscv64', 'loong64', 'wasm32'].find((c) => n.includes('-' + c));
  const libc = n.includes('musl') ? 'musl' : n.includes('gnu') ? 'glibc' : undefined;
  return { os, cpu, libc };
}
for (const [path, meta] of Object.entries(pk)) {
  for (const [dep, spec] of Object.entries(meta.optionalDependencies || {})) {
    const base = path === '' ? '' : path + '/';
    if (pk[`${base}node_modules/${dep}`] || pk[`node_modules/${dep}`]) continue;
    const { os, cpu, libc } = platformOf(dep);
    if (!os) continue;
    const entry = {
      version: spec.replace(/^[\^~=]/, ''),
      cpu: cpu === 'wasm32' ? undefined : [cpu],
      optional: true,
      os: os === 'wasm32' ? undefined : [os],
    };
    if (meta.dev) entry.dev = true;
    if (libc && os === 'linux') entry.libc = [libc];
    pk[`node_modules/${dep}`] = JSON.parse(JSON.stringify(entry));
    added++;
  }
}
lock.packages = Object.fromEntries(Object.entries(pk).sort(([a], [b]) => (a === '' ? -1 : b === '' ? 1 : a < b ? -1 : 1)));
fs.writeFileSync(file, JSON.stringify(lock, null, 2) + '\n');
console.log('added', added);
