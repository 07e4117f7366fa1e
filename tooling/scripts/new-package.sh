#!/usr/bin/env bash
# Scaffold packages/<name> with the house shape: ESM, exports (source condition, types first),
# files allow-list, tsup + tsc scripts. Usage: tooling/scripts/new-package.sh <name> "<description>" [deps-json]
set -euo pipefail
name=$1; desc=$2; deps=${3:-'{}'}
dir="$(git rev-parse --show-toplevel)/packages/$name"
mkdir -p "$dir/src"
cat > "$dir/package.json" <<EOF
{
  "name": "@kvmx/$name",
  "version": "0.1.0",
  "description": "$desc",
  "license": "MIT",
  "type": "module",
  "sideEffects": false,
  "exports": {
    ".": {
      "@kvmx/source": "./src/index.ts",
      "types": "./dist/index.d.ts",
      "import": "./dist/index.js"
    },
    "./package.json": "./package.json"
  },
  "main": "./dist/index.js",
  "types": "./dist/index.d.ts",
  "files": ["dist", "src", "!src/**/*.test.ts"],
  "engines": { "node": ">=20.19" },
  "scripts": {
    "build": "tsup",
    "typecheck": "tsc -p tsconfig.json"
  },
  "dependencies": $deps,
  "devDependencies": { "@kvmx/tsconfig": "workspace:*" }
}
EOF
cat > "$dir/tsconfig.json" <<'EOF'
{
  "extends": "../../tooling/tsconfig/base.json",
  "include": ["src"]
}
EOF
cat > "$dir/tsup.config.ts" <<'EOF'
import { defineConfig } from 'tsup';
import { libraryPreset } from '../../tooling/tsup.preset.js';

export default defineConfig(libraryPreset());
EOF
(cd "$(git rev-parse --show-toplevel)" && npx biome format --write "$dir/package.json" >/dev/null)
echo "created $dir"
