package journal;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;

import java.net.URI;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;

/** PostgreSQL access: the pool, the schema, and transactions. */
final class Store {
    interface Work<T> {
        T run(Connection c) throws SQLException;
    }

    private final HikariDataSource pool;
    private final Config config;

    Store(String databaseUrl, Config config) {
        this.config = config;
        URI uri = URI.create(databaseUrl);
        String user = uri.getUserInfo() == null ? "postgres" : uri.getUserInfo().split(":", 2)[0];
        String password = uri.getUserInfo() != null && uri.getUserInfo().contains(":")
                ? uri.getUserInfo().split(":", 2)[1] : null;
        String dbName = uri.getPath() == null || uri.getPath().length() <= 1 ? "postgres" : uri.getPath().substring(1);
        int port = uri.getPort() < 0 ? 5432 : uri.getPort();
        HikariConfig hc = new HikariConfig();
        hc.setJdbcUrl("jdbc:postgresql://" + uri.getHost() + ":" + port + "/" + dbName
                + "?connectTimeout=3&socketTimeout=6&tcpKeepAlive=true&ApplicationName=journal");
        hc.setUsername(user);
        if (password != null) hc.setPassword(password);
        hc.setMaximumPoolSize(12);
        hc.setMinimumIdle(2);
        hc.setConnectionTimeout(3000);
        hc.setValidationTimeout(1000);
        hc.setMaxLifetime(600_000);
        hc.setKeepaliveTime(0);
        hc.setInitializationFailTimeout(-1);   // start without the database; connect on demand
        hc.setAutoCommit(false);
        hc.setConnectionInitSql("SET statement_timeout = 4000; SET lock_timeout = 3000; "
                + "SET idle_in_transaction_session_timeout = 5000");
        this.pool = new HikariDataSource(hc);
    }

    void close() {
        pool.close();
    }

    /** Creates the schema once per database; retries until PostgreSQL answers. */
    void awaitSchema() throws InterruptedException {
        long backoff = 100;
        while (true) {
            try (Connection c = pool.getConnection()) {
                if (schemaPresent(c)) {
                    c.rollback();
                    return;
                }
                try (Statement s = c.createStatement()) {
                    s.execute("SELECT pg_advisory_xact_lock(58120417)");
                    for (String ddl : ddl()) s.execute(ddl);
                }
                c.commit();
                return;
            } catch (SQLException | RuntimeException e) {
                System.err.println("journal: waiting for the database: " + e.getMessage());
                Thread.sleep(backoff);
                backoff = Math.min(1000, backoff * 2);
            }
        }
    }

    private static boolean schemaPresent(Connection c) throws SQLException {
        try (Statement s = c.createStatement();
             ResultSet rs = s.executeQuery("SELECT to_regclass('jr_docs') IS NOT NULL AND "
                     + "to_regclass('jr_entries') IS NOT NULL AND to_regclass('jr_members') IS NOT NULL AND "
                     + "to_regclass('jr_grants') IS NOT NULL AND to_regclass('jr_revokes') IS NOT NULL AND "
                     + "to_regclass('jr_entries_doc_rev') IS NOT NULL")) {
            rs.next();
            return rs.getBoolean(1);
        }
    }

    private String[] ddl() {
        String seqIndex = config.lockDocument
                ? "CREATE UNIQUE INDEX IF NOT EXISTS jr_entries_doc_rev ON jr_entries (doc, rev) WHERE status = 'accepted'"
                : "CREATE INDEX IF NOT EXISTS jr_entries_doc_rev ON jr_entries (doc, rev)";
        return new String[] {
            "CREATE TABLE IF NOT EXISTS jr_docs (doc text PRIMARY KEY, title text NOT NULL, "
                + "length integer NOT NULL DEFAULT 0, head integer NOT NULL DEFAULT 0, created_at timestamptz NOT NULL DEFAULT now())",
            "CREATE TABLE IF NOT EXISTS jr_members (doc text NOT NULL, member text NOT NULL, "
                + "status text NOT NULL, updated_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (doc, member))",
            "CREATE TABLE IF NOT EXISTS jr_grants (grant_id text PRIMARY KEY, doc text NOT NULL, "
                + "member text NOT NULL, status text NOT NULL, reason text)",
            "CREATE TABLE IF NOT EXISTS jr_revokes (revoke_id text PRIMARY KEY, doc text NOT NULL, "
                + "member text NOT NULL)",
            "CREATE TABLE IF NOT EXISTS jr_entries (entry_id text PRIMARY KEY, doc text NOT NULL, "
                + "member text NOT NULL, rev integer NOT NULL, text text NOT NULL DEFAULT '', "
                + "status text NOT NULL, reason text, created_at timestamptz NOT NULL DEFAULT now())",
            seqIndex,
        };
    }

    /** Runs work in one transaction; a broken connection is retried twice on a fresh one. */
    <T> T tx(Work<T> work) {
        SQLException last = null;
        for (int attempt = 0; attempt < 3; attempt++) {
            try (Connection c = pool.getConnection()) {
                try {
                    T result = work.run(c);
                    c.commit();
                    return result;
                } catch (SQLException e) {
                    safeRollback(c);
                    throw e;
                } catch (RuntimeException e) {
                    safeRollback(c);
                    throw e;
                }
            } catch (SQLException e) {
                last = e;
                if (!retryable(e)) break;
                sleepQuietly(50L * (attempt + 1));
            }
        }
        throw new Unavailable("database: " + (last == null ? "unknown" : last.getMessage()), last);
    }

    /** Read-only work, no retry. */
    <T> T read(Work<T> work) {
        try (Connection c = pool.getConnection()) {
            try {
                return work.run(c);
            } finally {
                safeRollback(c);
            }
        } catch (SQLException e) {
            throw new Unavailable("database: " + e.getMessage(), e);
        }
    }

    private static boolean retryable(SQLException e) {
        String state = e.getSQLState();
        if (state == null) return true;   // an I/O error without a state: the connection broke
        return state.startsWith("08") || state.equals("40001") || state.equals("40P01") || state.equals("57P01");
    }

    private static void safeRollback(Connection c) {
        try {
            c.rollback();
        } catch (SQLException ignored) {
            // the connection is gone; the pool discards it
        }
    }

    private static void sleepQuietly(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
