// The build: copy the server into dist/, which default.json's "artifacts" packages under /opt/hello-node/.
"use strict";

const fs = require("node:fs");
const path = require("node:path");

const root = path.join(__dirname, "..");
const dist = path.join(root, "dist");
fs.rmSync(dist, { recursive: true, force: true });
fs.mkdirSync(dist);
fs.copyFileSync(path.join(root, "server.js"), path.join(dist, "server.js"));
fs.copyFileSync(path.join(root, "package.json"), path.join(dist, "package.json"));
console.log("dist/ ready");
