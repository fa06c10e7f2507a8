package failmodel.javapay;

import com.zaxxer.hikari.HikariDataSource;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;

/** PostgreSQL: one row per payment, the intent first, the outcome written once. */
final class Store {
    static final class Payment {
        final String paymentId;
        final String orderId;
        final long amount;
        final String status;   // pending | captured | declined
        final String chargeId; // set iff captured

        Payment(String paymentId, String orderId, long amount, String status, String chargeId) {
            this.paymentId = paymentId;
            this.orderId = orderId;
            this.amount = amount;
            this.status = status;
            this.chargeId = chargeId;
        }
    }

    static final class Due {
        final String paymentId;
        final long amount;

        Due(String paymentId, long amount) {
            this.paymentId = paymentId;
            this.amount = amount;
        }
    }

    /** How long the request path has to finish its own PSP call before the reconciler joins in. */
    static final double RECONCILE_AFTER_S = 1.5;

    private final HikariDataSource ds;

    Store(String databaseUrl, String appName) {
        this.ds = Main.dataSource(databaseUrl, appName);
    }

    /** Creates the schema once; retried until it works (PostgreSQL may be unreachable at start). */
    void ensureSchemaForever() {
        int attempt = 0;
        while (true) {
            try {
                ensureSchema();
                return;
            } catch (Exception e) {
                if (attempt++ % 10 == 0) {
                    Main.log("schema not ready yet: " + e.getMessage());
                }
                sleep(300);
            }
        }
    }

    private void ensureSchema() throws SQLException {
        try (Connection c = ds.getConnection()) {
            if (exists(c)) {
                return; // restarts while others serve: no DDL, no DDL locks
            }
            c.setAutoCommit(false);
            try (Statement s = c.createStatement()) {
                s.execute("SELECT pg_advisory_xact_lock(74201105)"); // replicas start side by side
                s.execute("CREATE TABLE IF NOT EXISTS jp_payments ("
                        + " payment_id text PRIMARY KEY,"
                        + " order_id text NOT NULL,"
                        + " amount bigint NOT NULL,"
                        + " status text NOT NULL CHECK (status IN ('pending','captured','declined')),"
                        + " charge_id text,"
                        + " psp_attempts integer NOT NULL DEFAULT 0,"
                        + " next_attempt_at timestamptz NOT NULL,"
                        + " created_at timestamptz NOT NULL DEFAULT now(),"
                        + " updated_at timestamptz NOT NULL DEFAULT now(),"
                        + " CHECK ((status = 'captured') = (charge_id IS NOT NULL)))");
                s.execute("CREATE INDEX IF NOT EXISTS jp_payments_due ON jp_payments (next_attempt_at)"
                        + " WHERE status = 'pending'");
                c.commit();
            } catch (SQLException e) {
                c.rollback();
                throw e;
            } finally {
                c.setAutoCommit(true);
            }
        }
    }

    private static boolean exists(Connection c) throws SQLException {
        try (Statement s = c.createStatement();
             ResultSet rs = s.executeQuery("SELECT to_regclass('jp_payments') IS NOT NULL"
                     + " AND to_regclass('jp_payments_due') IS NOT NULL")) {
            rs.next();
            return rs.getBoolean(1);
        }
    }

    /** Records the intent (idempotent) and returns the payment as stored. */
    Payment recordIntent(String paymentId, String orderId, long amount) throws SQLException {
        try (Connection c = ds.getConnection()) {
            try (PreparedStatement ps = c.prepareStatement(
                    "INSERT INTO jp_payments (payment_id, order_id, amount, status, next_attempt_at)"
                            + " VALUES (?, ?, ?, 'pending', now() + make_interval(secs => ?))"
                            + " ON CONFLICT (payment_id) DO NOTHING")) {
                ps.setString(1, paymentId);
                ps.setString(2, orderId);
                ps.setLong(3, amount);
                ps.setDouble(4, RECONCILE_AFTER_S);
                ps.executeUpdate();
            }
            Payment p = get(c, paymentId);
            if (p == null) {
                throw new SQLException("payment " + paymentId + " not found after insert");
            }
            return p;
        }
    }

    /** Writes a definite PSP outcome, only over 'pending' (an outcome is written once). */
    void recordOutcome(String paymentId, Psp.Result r) throws SQLException {
        try (Connection c = ds.getConnection();
             PreparedStatement ps = c.prepareStatement(
                     "UPDATE jp_payments SET status = ?, charge_id = ?, updated_at = now()"
                             + " WHERE payment_id = ? AND status = 'pending'")) {
            if (r.kind == Psp.Kind.CAPTURED) {
                ps.setString(1, "captured");
                ps.setString(2, r.chargeId);
            } else if (r.kind == Psp.Kind.DECLINED) {
                ps.setString(1, "declined");
                ps.setNull(2, java.sql.Types.VARCHAR);
            } else {
                return;
            }
            ps.setString(3, paymentId);
            ps.executeUpdate();
        }
    }

    Payment get(String paymentId) throws SQLException {
        try (Connection c = ds.getConnection()) {
            return get(c, paymentId);
        }
    }

    private static Payment get(Connection c, String paymentId) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement(
                "SELECT payment_id, order_id, amount, status, charge_id FROM jp_payments WHERE payment_id = ?")) {
            ps.setString(1, paymentId);
            try (ResultSet rs = ps.executeQuery()) {
                if (!rs.next()) {
                    return null;
                }
                return new Payment(rs.getString(1), rs.getString(2), rs.getLong(3), rs.getString(4), rs.getString(5));
            }
        }
    }

    /**
     * Claims up to {@code limit} pending payments whose retry time has come, pushing their next
     * retry back (a short lease with backoff: 0.25, 0.5, 1, 1, ... s). SKIP LOCKED keeps the
     * replicas' reconcilers off each other's rows; two of them calling the PSP for one payment
     * would still be harmless (same idempotency key).
     */
    List<Due> claimDue(int limit) throws SQLException {
        List<Due> out = new ArrayList<>();
        try (Connection c = ds.getConnection();
             PreparedStatement ps = c.prepareStatement(
                     "UPDATE jp_payments SET psp_attempts = psp_attempts + 1,"
                             + " next_attempt_at = now() + make_interval(secs => LEAST(1.0, 0.25 * power(2, LEAST(psp_attempts, 4))))"
                             + " WHERE payment_id IN (SELECT payment_id FROM jp_payments"
                             + "   WHERE status = 'pending' AND next_attempt_at <= now()"
                             + "   ORDER BY next_attempt_at LIMIT ? FOR UPDATE SKIP LOCKED)"
                             + " RETURNING payment_id, amount")) {
            ps.setInt(1, limit);
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    out.add(new Due(rs.getString(1), rs.getLong(2)));
                }
            }
        }
        return out;
    }

    static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
