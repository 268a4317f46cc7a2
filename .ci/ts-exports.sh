#!/usr/bin/env bash
# The npm package exports the generated connectjwt.v1 options, so TypeScript
# generated (with rewrite_imports) from a user's protos that use the policy
# options compiles and runs against the published package. Needs `npm ci` of
# tools/ and ts/.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

npm run build --prefix ts >/dev/null
# The package as npm would install it (npm pack honours "files").
(cd ts && npm pack --silent --pack-destination "$work" >/dev/null)
mkdir -p "$work/app/node_modules/@connectjwt" "$work/app/node_modules/@bufbuild" "$work/app/proto/acme/v1"
tar -xzf "$work"/connectjwt-connectjwt-*.tgz -C "$work"
mv "$work/package" "$work/app/node_modules/@connectjwt/connectjwt"
ln -s "$repo/ts/node_modules/@bufbuild/protobuf" "$work/app/node_modules/@bufbuild/protobuf"

cp .ci/ts-exports/acme.proto "$work/app/proto/acme/v1/"
cp -r proto/connectjwt "$work/app/proto/"
cp .ci/ts-exports/check.ts "$work/app/"
cat >"$work/app/buf.yaml" <<'YAML'
version: v2
modules:
  - path: proto
YAML
cat >"$work/app/buf.gen.yaml" <<YAML
version: v2
plugins:
  - local: $repo/tools/node_modules/.bin/protoc-gen-es
    out: gen
    opt:
      - target=ts
      - import_extension=js
      - rewrite_imports=./connectjwt/**/*_pb.js:@connectjwt/connectjwt
YAML
cat >"$work/app/package.json" <<'JSON'
{ "name": "acme", "private": true, "type": "module" }
JSON
cat >"$work/app/tsconfig.json" <<'JSON'
{
  "compilerOptions": {
    "target": "ES2022", "module": "NodeNext", "moduleResolution": "NodeNext",
    "strict": true, "skipLibCheck": false, "outDir": "out", "types": []
  },
  "include": ["check.ts", "gen"]
}
JSON
cd "$work/app"
"$repo/tools/node_modules/.bin/buf" generate --path proto/acme
grep -q '"@connectjwt/connectjwt/connectjwt/v1/options_pb.js"' gen/acme/v1/acme_pb.ts || {
  echo "ts exports: generated code does not import the options from the package:" >&2
  grep import gen/acme/v1/acme_pb.ts >&2
  exit 1
}
[ ! -e gen/connectjwt ] || { echo "ts exports: connectjwt.v1 was generated locally" >&2; exit 1; }
"$repo/ts/node_modules/.bin/tsc" -p tsconfig.json
node out/check.js
