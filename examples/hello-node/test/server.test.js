// Unit tests, run by the build (`npm test`, Node's built-in test runner).
"use strict";

const test = require("node:test");
const assert = require("node:assert");
const { greeting } = require("../server.js");

test("greets the world by default", () => {
  assert.strictEqual(greeting(), "Hello, world!");
});

test("greets by name", () => {
  assert.strictEqual(greeting("buildplat"), "Hello, buildplat!");
});
