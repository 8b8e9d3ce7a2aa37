# frozen_string_literal: true

# hello-ruby's answers, apart from the HTTP server so that the tests need no port.
module Hello
  module_function

  def greeting(name = nil)
    "Hello, #{name.nil? || name.empty? ? 'world' : name}!"
  end

  # [status, content type, body] for a GET of +path+.
  def answer(path)
    case path
    when '/healthz' then [200, 'text/plain', "ok\n"]
    when '/' then [200, 'text/plain', "#{greeting}\n"]
    else [404, 'text/plain', "not found\n"]
    end
  end
end
