// Bundles the page into dist/: dist/index.html, dist/assets/app.js and
// dist/assets/app.css. dist/ is committed and embedded in the example server
// (example/web/web.go), so `go run ./example` needs no Node.js; CI rebuilds it and
// fails if the result differs from the committed files, so the build must be
// deterministic (no timestamps, no absolute paths, no source maps: they
// would make every clone of the Go module ~1 MB larger).
//
//   npm ci && npm run build        (from example/web)
//
// The page imports @connectjwt/connectjwt from source (../../ts/src), so the
// TypeScript package needs no build step and no `npm ci` of its own. All
// imports of @connectrpc/* and @bufbuild/* resolve from this package's
// node_modules, including those in ../../ts/src: the bundle gets exactly one
// copy of each, so `instanceof ConnectError` and detail lookup work.
import { build } from "esbuild";
import { copyFile, mkdir, rm } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const dist = join(here, "dist");
const tsPackageEntry = join(here, "..", "..", "ts", "src", "index.ts");

/** @type {import("esbuild").Plugin} */
const resolveFromHere = {
  name: "connectjwt-resolve",
  setup(b) {
    b.onResolve({ filter: /^@connectjwt\/connectjwt$/ }, () => ({ path: tsPackageEntry }));
    b.onResolve({ filter: /^@(connectrpc|bufbuild)\// }, async (args) => {
      if (args.pluginData?.fromHere) {
        return undefined;
      }
      const r = await b.resolve(args.path, {
        kind: args.kind,
        resolveDir: here,
        pluginData: { fromHere: true },
      });
      return r.errors.length > 0 ? { errors: r.errors } : { path: r.path };
    });
  },
};

await rm(dist, { recursive: true, force: true });
await mkdir(join(dist, "assets"), { recursive: true });
const result = await build({
  absWorkingDir: here,
  entryPoints: [join(here, "src", "main.ts")],
  outfile: join(dist, "assets", "app.js"),
  bundle: true,
  format: "esm",
  platform: "browser",
  target: ["es2022"],
  minify: true,
  sourcemap: false,
  legalComments: "linked",
  logLevel: "warning",
  metafile: true,
  plugins: [resolveFromHere],
});
await copyFile(join(here, "index.html"), join(dist, "index.html"));

// Fail the build if two copies of a runtime package slipped in.
const copies = new Map();
for (const input of Object.keys(result.metafile.inputs)) {
  const m = /node_modules\/(@[^/]+\/[^/]+)\//.exec(input);
  if (m) {
    const root = input.slice(0, m.index) + m[0];
    (copies.get(m[1]) ?? copies.set(m[1], new Set()).get(m[1])).add(root);
  }
}
for (const [name, roots] of copies) {
  if (roots.size > 1) {
    throw new Error(`${name} is bundled ${roots.size} times: ${[...roots].join(", ")}`);
  }
}
const bytes = result.metafile.outputs[Object.keys(result.metafile.outputs).find((o) => o.endsWith("app.js"))].bytes;
console.log(`built dist/index.html and dist/assets/app.js (${Math.round(bytes / 1024)} KiB)`);
