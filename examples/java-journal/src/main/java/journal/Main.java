package journal;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Entry point: `serve` runs one replica of the journal service. */
public final class Main {
    static final Set<String> VARIANTS = Set.of("correct", "variant_a", "variant_b", "variant_c", "variant_d");
    static final ObjectMapper JSON = new ObjectMapper();

    private static final Pattern DOC = Pattern.compile("^/docs/([A-Za-z0-9_-]{1,64})$");
    private static final Pattern MEMBERS = Pattern.compile("^/docs/([A-Za-z0-9_-]{1,64})/members$");
    private static final Pattern REVOCATIONS = Pattern.compile("^/docs/([A-Za-z0-9_-]{1,64})/revocations$");
    private static final Pattern ENTRIES = Pattern.compile("^/docs/([A-Za-z0-9_-]{1,64})/entries$");
    private static final Pattern ENTRY = Pattern.compile("^/entries/([A-Za-z0-9_-]{1,64})$");

    public static void main(String[] args) throws Exception {
        String variant = System.getenv().getOrDefault("FAILMODEL_VARIANT", "correct");
        String command = null;
        for (int i = 0; i < args.length; i++) {
            if (args[i].equals("--variant") && i + 1 < args.length) {
                variant = args[++i];
            } else if (args[i].startsWith("--variant=")) {
                variant = args[i].substring("--variant=".length());
            } else if (command == null) {
                command = args[i];
            } else {
                die("unexpected argument: " + args[i]);
            }
        }
        if (variant.isEmpty()) variant = "correct";
        if (!VARIANTS.contains(variant)) die("unknown variant '" + variant + "' (known: " + VARIANTS + ")");
        if (!"serve".equals(command)) die("usage: journal serve [--variant NAME]");
        String port = System.getenv("PORT");
        String db = System.getenv("DATABASE_URL");
        if (port == null || port.isEmpty()) die("PORT is not set");
        if (db == null || db.isEmpty()) die("DATABASE_URL is not set");

        Config config = Config.forVariant(variant);
        Store store = new Store(db, config);
        store.awaitSchema();   // retries until PostgreSQL answers; only then do we listen
        Journal journal = new Journal(store, config);

        HttpServer server = HttpServer.create(new InetSocketAddress("127.0.0.1", Integer.parseInt(port)), 512);
        ExecutorService pool = Executors.newFixedThreadPool(48);
        server.setExecutor(pool);
        server.createContext("/", ex -> handle(ex, journal));
        server.start();
        System.err.println("journal: replica " + System.getenv("INSTANCE_ID") + " serving on 127.0.0.1:" + port
                + " (variant " + variant + ")");
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            server.stop(0);
            pool.shutdownNow();
            store.close();
        }));
    }

    private static void die(String msg) {
        System.err.println("journal: " + msg);
        System.exit(2);
    }

    private static void handle(HttpExchange ex, Journal journal) {
        Reply reply;
        try {
            reply = route(ex, journal);
        } catch (Unavailable e) {
            reply = Reply.unavailable(e.getMessage());
        } catch (BadRequest e) {
            reply = new Reply(400, Map.of("error", e.getMessage()));
        } catch (Throwable t) {
            reply = Reply.unavailable(t.getClass().getSimpleName() + ": " + t.getMessage());
        }
        try {
            byte[] body = JSON.writeValueAsBytes(reply.body);
            ex.getResponseHeaders().set("Content-Type", "application/json");
            ex.sendResponseHeaders(reply.status, body.length);
            try (OutputStream out = ex.getResponseBody()) {
                out.write(body);
            }
        } catch (IOException e) {
            // the client went away; the work is done or recorded either way
        } finally {
            ex.close();
        }
    }

    private static Reply route(HttpExchange ex, Journal journal) throws Exception {
        String method = ex.getRequestMethod();
        String path = ex.getRequestURI().getPath();
        Matcher m;
        if (path.equals("/health")) {
            return new Reply(200, Map.of("status", "ok"));
        }
        if ((m = DOC.matcher(path)).matches()) {
            if (method.equals("PUT")) return journal.createDoc(m.group(1), body(ex));
            if (method.equals("GET")) return journal.readDoc(m.group(1));
        }
        if ((m = MEMBERS.matcher(path)).matches() && method.equals("POST")) {
            return journal.grant(m.group(1), body(ex));
        }
        if ((m = REVOCATIONS.matcher(path)).matches() && method.equals("POST")) {
            return journal.revoke(m.group(1), body(ex));
        }
        if ((m = ENTRIES.matcher(path)).matches() && method.equals("POST")) {
            return journal.append(m.group(1), body(ex));
        }
        if ((m = ENTRY.matcher(path)).matches() && method.equals("GET")) {
            return journal.readEntry(m.group(1));
        }
        Map<String, Object> err = new LinkedHashMap<>();
        err.put("error", "no route for " + method + " " + path);
        return new Reply(404, err);
    }

    private static JsonNode body(HttpExchange ex) throws IOException {
        try (InputStream in = ex.getRequestBody()) {
            byte[] raw = in.readAllBytes();
            if (raw.length == 0) return JSON.createObjectNode();
            JsonNode node = JSON.readTree(raw);
            if (node == null || !node.isObject()) throw new BadRequest("body must be a JSON object");
            return node;
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new BadRequest("invalid JSON");
        }
    }
}
