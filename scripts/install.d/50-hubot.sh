#!/usr/bin/env bash
# Install Hubot's npm packages into deploy/hubot/node_modules, exactly as package-lock.json pins them.
# Quiet and idempotent: nothing happens when node_modules already matches the lock file.
set -euo pipefail

hubot_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../deploy/hubot" && pwd)"
lock="$hubot_dir/package-lock.json"
# npm writes this copy of the lock file into node_modules on every install; when it is identical to the lock
# file, the installed tree is the locked one.
installed_lock="$hubot_dir/node_modules/.package-lock.json"

if ! command -v npm >/dev/null 2>&1; then
    echo "50-hubot: npm is not installed (scripts/install-test-deps installs nodejs and npm)" >&2
    exit 1
fi

if [[ -f "$installed_lock" && -f "$hubot_dir/node_modules/hubot/package.json" ]] && node -e '
    // The hidden lock lists the same packages as the real one, minus the root entry; compare those.
    const fs = require("node:fs")
    const [lockPath, installedPath] = process.argv.slice(1)
    const wanted = JSON.parse(fs.readFileSync(lockPath, "utf8")).packages
    const have = JSON.parse(fs.readFileSync(installedPath, "utf8")).packages
    delete wanted[""]
    const names = Object.keys(wanted)
    const same = names.length === Object.keys(have).length &&
        names.every((name) => have[name] && have[name].version === wanted[name].version &&
                              have[name].integrity === wanted[name].integrity)
    process.exit(same ? 0 : 1)
' "$lock" "$installed_lock"; then
    exit 0
fi

started=$SECONDS
# deploy/hubot/.npmrc keeps registry host names out of the lock file; npm ci never rewrites it anyway.
(cd "$hubot_dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
echo "50-hubot: installed Hubot's npm packages in $((SECONDS - started)) s"
