// hello-node: a small HTTP service using only Node's standard library.
//   GET /        -> a greeting
//   GET /healthz -> "ok" (the health path in default.json)
// It listens on $PORT (default 8080), as it would in its container.
"use strict";

const http = require("node:http");

function greeting(name) {
  return `Hello, ${name || "world"}!`;
}

function handle(request, response) {
  const reply = (status, body) => {
    response.writeHead(status, { "Content-Type": "text/plain", "Content-Length": Buffer.byteLength(body) });
    response.end(body);
  };
  const path = new URL(request.url, "http://localhost").pathname;
  if (request.method !== "GET") return reply(405, "method not allowed\n");
  if (path === "/healthz") return reply(200, "ok\n");
  if (path === "/") return reply(200, greeting() + "\n");
  return reply(404, "not found\n");
}

if (require.main === module) {
  const port = Number(process.env.PORT || 8080);
  http.createServer(handle).listen(port, () => console.log(`hello-node listening on port ${port}`));
}

module.exports = { greeting, handle };
