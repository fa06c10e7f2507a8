package failmodel.javapay;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;

import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.regex.Pattern;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

/**
 * The payments workload of failmodel's docs/contracts.md (section 4), in Java 17.
 *
 *   serve [--variant NAME]       HTTP replica on 127.0.0.1:$PORT, with an embedded reconciler
 *
 * Design (see README.md):
 *   1. POST /payments records the intent (payment_id, order_id, amount, status 'pending')
 *      in PostgreSQL *before* any charge, idempotently (INSERT ... ON CONFLICT DO NOTHING).
 *   2. It then charges the PSP with Idempotency-Key "jp-charge-<payment_id>" and the exact
 *      body {"reference": payment_id, "amount": amount}, the same on every attempt.
 *   3. A definite PSP answer (200 succeeded / 402 declined) is recorded with a conditional
 *      UPDATE (only from 'pending'), then the answer is read back from the row: the client
 *      never gets 200/402 before the outcome is durable. Anything else answers 202 pending.
 *   4. A reconciler (a thread in every replica; SKIP LOCKED lease, short backoff) re-sends
 *      the same charge, with the same key, for every payment still pending, until the PSP
 *      gives a definite answer; the PSP's idempotency store tells it whether money moved.
 *   5. A client resend of a payment_id answers the stored outcome, or resumes step 2.
 */
public final class Main {
    static final Pattern ID = Pattern.compile("^[A-Za-z0-9_-]{1,64}$");
    static final ObjectMapper JSON = new ObjectMapper();

    static volatile boolean ready = false;
    static String variant = "correct";
    static String instance = "0";
    static Store store;
    static Psp psp;

    public static void main(String[] args) throws Exception {
        String mode = args.length > 0 ? args[0] : "serve";
        variant = envOr("FAILMODEL_VARIANT", "correct");
        for (int i = 1; i < args.length; i++) {
            if (args[i].equals("--variant") && i + 1 < args.length) {
                variant = args[++i];
            } else if (args[i].startsWith("--variant=")) {
                variant = args[i].substring("--variant=".length());
            }
        }
        if (!variant.equals("correct") && !variant.equals(Psp.BUG_FRESH_KEY)) {
            System.err.println("java-payments: unknown variant " + variant);
            System.exit(2);
        }
        instance = envOr("INSTANCE_ID", "0");
        String dbUrl = System.getenv("DATABASE_URL");
        String partnerUrl = System.getenv("PARTNER_URL");
        if (dbUrl == null || partnerUrl == null) {
            System.err.println("java-payments: DATABASE_URL and PARTNER_URL are required");
            System.exit(2);
        }
        store = new Store(dbUrl, "javapay-" + mode + "-" + instance);
        psp = new Psp(partnerUrl, variant);
        log("starting " + mode + " (variant " + variant + ")");

        switch (mode) {
            case "serve": {
                int port = Integer.parseInt(System.getenv("PORT"));
                HttpServer server = HttpServer.create(new InetSocketAddress("127.0.0.1", port), 256);
                server.createContext("/", Main::handle);
                ExecutorService pool = Executors.newFixedThreadPool(48, r -> {
                    Thread t = new Thread(r, "http");
                    t.setDaemon(true);
                    return t;
                });
                server.setExecutor(pool);
                server.start();
                store.ensureSchemaForever();
                ready = true;
                log("ready on 127.0.0.1:" + port);
                new Reconciler(store, psp).run(); // never returns
                break;
            }
            default:
                System.err.println("usage: java-payments serve [--variant NAME]");
                System.exit(2);
        }
    }

    static String envOr(String name, String dflt) {
        String v = System.getenv(name);
        return v == null || v.isEmpty() ? dflt : v;
    }

    static void log(String msg) {
        System.err.println("[java-payments " + instance + "] " + msg);
    }

    // ---------------------------------------------------------------- HTTP

    static void handle(HttpExchange ex) {
        try {
            String method = ex.getRequestMethod();
            String path = ex.getRequestURI().getRawPath();
            if (path.equals("/health") && method.equals("GET")) {
                if (ready) {
                    reply(ex, 200, Map.of("status", "ok"));
                } else {
                    reply(ex, 503, Map.of("status", "starting"));
                }
            } else if (path.equals("/payments") && method.equals("POST")) {
                if (!ready) {
                    reply(ex, 503, Map.of("error", "starting"));
                } else {
                    pay(ex);
                }
            } else if (path.startsWith("/payments/") && method.equals("GET")) {
                String id = URLDecoder.decode(path.substring("/payments/".length()), StandardCharsets.UTF_8);
                if (!ready) {
                    reply(ex, 503, Map.of("error", "starting"));
                } else {
                    read(ex, id);
                }
            } else {
                reply(ex, 404, Map.of("error", "no such route"));
            }
        } catch (Throwable t) {
            // Never let a request kill anything; an unknown outcome is a 503.
            try {
                reply(ex, 503, Map.of("error", String.valueOf(t)));
            } catch (Throwable ignored) {
                // the client went away
            }
        } finally {
            ex.close();
        }
    }

    static void pay(HttpExchange ex) throws IOException {
        JsonNode body;
        try (InputStream in = ex.getRequestBody()) {
            body = JSON.readTree(in.readAllBytes());
        } catch (Exception e) {
            reply(ex, 400, Map.of("error", "body is not JSON"));
            return;
        }
        if (body == null || !body.isObject()
                || !body.path("payment_id").isTextual() || !ID.matcher(body.path("payment_id").asText()).matches()
                || !body.path("order_id").isTextual() || !ID.matcher(body.path("order_id").asText()).matches()
                || !body.path("amount").canConvertToLong() || !body.path("amount").isIntegralNumber()
                || body.path("amount").asLong() <= 0) {
            reply(ex, 400, Map.of("error", "expected {payment_id, order_id, amount > 0}"));
            return;
        }
        String paymentId = body.get("payment_id").asText();
        String orderId = body.get("order_id").asText();
        long amount = body.get("amount").asLong();

        // 1. The intent, durable before any money moves.
        Store.Payment p;
        try {
            p = store.recordIntent(paymentId, orderId, amount);
        } catch (Exception e) {
            // The insert may or may not have committed; nothing was charged. Unknown.
            reply(ex, 503, unknown(paymentId, "store: " + e.getMessage()));
            return;
        }
        if (p.amount != amount || !p.orderId.equals(orderId)) {
            reply(ex, 409, Map.of("payment_id", paymentId, "error", "payment_id reused with another body"));
            return;
        }
        if (!p.status.equals("pending")) {
            answer(ex, p);
            return;
        }

        // 2. Charge with the payment's idempotency key (resends and the reconciler reuse it).
        Psp.Result r = psp.charge(paymentId, amount, Psp.REQUEST_TIMEOUT);
        if (r.kind == Psp.Kind.UNKNOWN) {
            // The reconciler will learn the outcome with the same key.
            reply(ex, 202, pending(paymentId));
            return;
        }

        // 3. Record the definite outcome, then answer what is durable.
        try {
            store.recordOutcome(paymentId, r);
            Store.Payment now = store.get(paymentId);
            if (now == null) {
                reply(ex, 503, unknown(paymentId, "payment vanished"));
            } else {
                answer(ex, now);
            }
        } catch (Exception e) {
            // The PSP answered but the record is not known to be durable: unknown to the client;
            // the reconciler repeats the call with the key and records the stored answer.
            reply(ex, 503, unknown(paymentId, "store: " + e.getMessage()));
        }
    }

    static void read(HttpExchange ex, String id) throws IOException {
        Store.Payment p;
        try {
            p = store.get(id);
        } catch (Exception e) {
            reply(ex, 503, Map.of("payment_id", id, "error", "store: " + e.getMessage()));
            return;
        }
        if (p == null) {
            reply(ex, 404, Map.of("payment_id", id, "error", "not found"));
            return;
        }
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("payment_id", p.paymentId);
        m.put("status", p.status);
        if (p.status.equals("captured")) {
            m.put("charge_id", p.chargeId);
        }
        reply(ex, 200, m);
    }

    static void answer(HttpExchange ex, Store.Payment p) throws IOException {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("payment_id", p.paymentId);
        m.put("status", p.status);
        switch (p.status) {
            case "captured":
                m.put("charge_id", p.chargeId);
                reply(ex, 200, m);
                break;
            case "declined":
                reply(ex, 402, m);
                break;
            default:
                reply(ex, 202, m);
        }
    }

    static Map<String, Object> pending(String id) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("payment_id", id);
        m.put("status", "pending");
        return m;
    }

    static Map<String, Object> unknown(String id, String why) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("payment_id", id);
        m.put("status", "unknown");
        m.put("error", why == null ? "unknown" : why);
        return m;
    }

    static void reply(HttpExchange ex, int status, Map<String, ?> body) throws IOException {
        byte[] bytes = JSON.writeValueAsBytes(body);
        ex.getResponseHeaders().set("Content-Type", "application/json");
        ex.sendResponseHeaders(status, bytes.length);
        ex.getResponseBody().write(bytes);
        ex.getResponseBody().flush();
    }

    /** Builds the JDBC URL from DATABASE_URL (postgresql://USER[:PASS]@HOST:PORT/DB). */
    static HikariDataSource dataSource(String databaseUrl, String appName) {
        URI u = URI.create(databaseUrl);
        String user = "postgres";
        String pass = null;
        if (u.getUserInfo() != null) {
            String[] parts = u.getUserInfo().split(":", 2);
            user = URLDecoder.decode(parts[0], StandardCharsets.UTF_8);
            if (parts.length > 1) {
                pass = URLDecoder.decode(parts[1], StandardCharsets.UTF_8);
            }
        }
        String db = u.getPath() == null || u.getPath().length() <= 1 ? user : u.getPath().substring(1);
        int port = u.getPort() < 0 ? 5432 : u.getPort();
        String jdbc = "jdbc:postgresql://" + u.getHost() + ":" + port + "/" + db
                + "?connectTimeout=3&socketTimeout=10&loginTimeout=5&tcpKeepAlive=true"
                + "&ApplicationName=" + appName;
        HikariConfig c = new HikariConfig();
        c.setJdbcUrl(jdbc);
        c.setUsername(user);
        if (pass != null) {
            c.setPassword(pass);
        }
        c.setMaximumPoolSize(12);
        c.setMinimumIdle(2);
        c.setConnectionTimeout(3000);
        c.setValidationTimeout(1000);
        c.setInitializationFailTimeout(-1); // start even while PostgreSQL is unreachable
        c.setAutoCommit(true);
        c.setPoolName(appName);
        return new HikariDataSource(c);
    }
}
