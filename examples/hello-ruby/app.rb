# frozen_string_literal: true

# hello-ruby: a small HTTP service.
#
#   GET /        -> a greeting
#   GET /healthz -> "ok" (the health path in default.json)
#
# It listens on $PORT (default 8080) on all interfaces, as it would in its container.
require 'webrick'
require_relative 'lib/hello'

port = Integer(ENV.fetch('PORT', '8080'))
server = WEBrick::HTTPServer.new(BindAddress: '0.0.0.0', Port: port, AccessLog: [])
server.mount_proc('/') do |request, response|
  response.status, response.content_type, response.body = Hello.answer(request.path)
end
trap('TERM') { server.shutdown }
trap('INT') { server.shutdown }
warn "hello-ruby listening on port #{port}"
server.start
