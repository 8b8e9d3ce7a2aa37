package example;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;

/**
 * hello-java: a small HTTP service using only the JDK.
 *
 * <p>GET / answers a greeting, GET /healthz answers "ok" (the health path in default.json). It listens on $PORT
 * (default 8080), as it would in its container.
 */
public final class Hello {
    private Hello() {}

    static String greeting(String name) {
        return "Hello, " + (name == null || name.isEmpty() ? "world" : name) + "!";
    }

    private static void reply(HttpExchange exchange, int status, String body) throws IOException {
        byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
        exchange.getResponseHeaders().set("Content-Type", "text/plain; charset=utf-8");
        exchange.sendResponseHeaders(status, bytes.length);
        try (OutputStream out = exchange.getResponseBody()) {
            out.write(bytes);
        }
    }

    public static void main(String[] args) throws IOException {
        int port = Integer.parseInt(System.getenv().getOrDefault("PORT", "8080"));
        HttpServer server = HttpServer.create(new InetSocketAddress(port), 0);
        server.createContext("/healthz", exchange -> reply(exchange, 200, "ok\n"));
        server.createContext("/", exchange -> {
            if ("/".equals(exchange.getRequestURI().getPath())) {
                reply(exchange, 200, greeting(null) + "\n");
            } else {
                reply(exchange, 404, "not found\n");
            }
        });
        server.start();
        System.out.println("hello-java listening on port " + port);
    }
}
