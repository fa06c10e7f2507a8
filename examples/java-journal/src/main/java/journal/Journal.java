package journal;

import com.fasterxml.jackson.databind.JsonNode;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

/** The journal's rules: documents, their members, and entries that carry the writer's revision. */
final class Journal {
    private static final Pattern ID = Pattern.compile("^[A-Za-z0-9_-]{1,64}$");

    private final Store store;
    private final Config config;
    private final MembershipCache cache;

    Journal(Store store, Config config) {
        this.store = store;
        this.config = config;
        this.cache = new MembershipCache(30_000);
    }

    // ---- documents ---------------------------------------------------------------------------

    Reply createDoc(String doc, JsonNode body) {
        String title = body.path("title").asText("");
        return store.tx(c -> {
            try (PreparedStatement ins = c.prepareStatement(
                    "INSERT INTO jr_docs (doc, title) VALUES (?, ?) ON CONFLICT (doc) DO NOTHING")) {
                ins.setString(1, doc);
                ins.setString(2, title);
                ins.executeUpdate();
            }
            try (PreparedStatement q = c.prepareStatement("SELECT title FROM jr_docs WHERE doc = ?")) {
                q.setString(1, doc);
                try (ResultSet rs = q.executeQuery()) {
                    rs.next();
                    return new Reply(200, obj("doc", doc, "title", rs.getString(1)));
                }
            }
        });
    }

    Reply readDoc(String doc) {
        return store.read(c -> {
            Map<String, Object> out;
            try (PreparedStatement q = c.prepareStatement("SELECT title, length, head FROM jr_docs WHERE doc = ?")) {
                q.setString(1, doc);
                try (ResultSet rs = q.executeQuery()) {
                    if (!rs.next()) return new Reply(404, obj("error", "no such document", "doc", doc));
                    out = obj("doc", doc, "title", rs.getString(1), "length", rs.getInt(2), "head", rs.getInt(3));
                }
            }
            List<Map<String, Object>> entries = new ArrayList<>();
            try (PreparedStatement q = c.prepareStatement(
                    "SELECT entry_id, member, rev FROM jr_entries WHERE doc = ? AND status = 'accepted' "
                            + "ORDER BY rev, created_at, entry_id")) {
                q.setString(1, doc);
                try (ResultSet rs = q.executeQuery()) {
                    while (rs.next()) {
                        entries.add(obj("entry_id", rs.getString(1), "doc", doc,
                                "member", rs.getString(2), "rev", rs.getInt(3)));
                    }
                }
            }
            List<Map<String, Object>> members = new ArrayList<>();
            try (PreparedStatement q = c.prepareStatement(
                    "SELECT member, status FROM jr_members WHERE doc = ? ORDER BY member")) {
                q.setString(1, doc);
                try (ResultSet rs = q.executeQuery()) {
                    while (rs.next()) members.add(obj("member", rs.getString(1), "status", rs.getString(2)));
                }
            }
            out.put("members", members);
            out.put("entries", entries);
            return new Reply(200, out);
        });
    }

    // ---- membership --------------------------------------------------------------------------

    Reply grant(String doc, JsonNode body) {
        String grantId = id(body, "grant_id");
        String member = id(body, "member");
        Reply reply = store.tx(c -> {
            if (!lockDoc(c, doc, true)) return noDoc(doc);
            try (PreparedStatement q = c.prepareStatement(
                    "SELECT doc, member, status, reason FROM jr_grants WHERE grant_id = ?")) {
                q.setString(1, grantId);
                try (ResultSet rs = q.executeQuery()) {
                    if (rs.next()) return grantReply(grantId, rs.getString(1), rs.getString(2),
                            rs.getString(3), rs.getString(4));
                }
            }
            String status = membership(c, doc, member);
            if ("revoked".equals(status)) {
                insertGrant(c, grantId, doc, member, "rejected", "revoked");
                return grantReply(grantId, doc, member, "rejected", "revoked");
            }
            try (PreparedStatement ins = c.prepareStatement(
                    "INSERT INTO jr_members (doc, member, status) VALUES (?, ?, 'granted') "
                            + "ON CONFLICT (doc, member) DO NOTHING")) {
                ins.setString(1, doc);
                ins.setString(2, member);
                ins.executeUpdate();
            }
            insertGrant(c, grantId, doc, member, "granted", null);
            return grantReply(grantId, doc, member, "granted", null);
        });
        cache.forget(doc, member);
        return reply;
    }

    Reply revoke(String doc, JsonNode body) {
        String revokeId = id(body, "revoke_id");
        String member = id(body, "member");
        Reply reply = store.tx(c -> {
            if (!lockDoc(c, doc, true)) return noDoc(doc);
            try (PreparedStatement q = c.prepareStatement(
                    "SELECT doc, member FROM jr_revokes WHERE revoke_id = ?")) {
                q.setString(1, revokeId);
                try (ResultSet rs = q.executeQuery()) {
                    if (rs.next()) return revokeReply(revokeId, rs.getString(1), rs.getString(2));
                }
            }
            try (PreparedStatement up = c.prepareStatement(
                    "INSERT INTO jr_members (doc, member, status) VALUES (?, ?, 'revoked') "
                            + "ON CONFLICT (doc, member) DO UPDATE SET status = 'revoked', updated_at = now()")) {
                up.setString(1, doc);
                up.setString(2, member);
                up.executeUpdate();
            }
            try (PreparedStatement ins = c.prepareStatement(
                    "INSERT INTO jr_revokes (revoke_id, doc, member) VALUES (?, ?, ?)")) {
                ins.setString(1, revokeId);
                ins.setString(2, doc);
                ins.setString(3, member);
                ins.executeUpdate();
            }
            return revokeReply(revokeId, doc, member);
        });
        if (reply.status == 200) cache.remember(doc, member, "revoked");
        return reply;
    }

    // ---- entries -----------------------------------------------------------------------------

    Reply append(String doc, JsonNode body) {
        String entryId = id(body, "entry_id");
        String member = id(body, "member");
        JsonNode revNode = body.get("rev");
        if (revNode == null || !revNode.canConvertToInt() || revNode.asInt() < 1) throw new BadRequest("rev must be a positive integer");
        int rev = revNode.asInt();
        String text = body.path("text").asText("");

        if (config.lookupBeforeTransaction) {
            Reply known = store.read(c -> storedEntry(c, entryId));
            if (known != null) return known;
        }
        return store.tx(c -> {
            Integer head = lockDocHead(c, doc);
            if (head == null) return noDoc(doc);
            if (!config.lookupBeforeTransaction) {
                Reply known = storedEntry(c, entryId);
                if (known != null) return known;
            }
            String status = cachedMembership(c, doc, member);
            if (!"granted".equals(status)) {
                return reject(c, entryId, doc, member, rev, text, "forbidden");
            }
            if (rev <= head) {
                return reject(c, entryId, doc, member, rev, text, "stale");
            }
            try (PreparedStatement ins = c.prepareStatement(
                    "INSERT INTO jr_entries (entry_id, doc, member, rev, text, status) "
                            + "VALUES (?, ?, ?, ?, ?, 'accepted')")) {
                ins.setString(1, entryId);
                ins.setString(2, doc);
                ins.setString(3, member);
                ins.setInt(4, rev);
                ins.setString(5, text);
                ins.executeUpdate();
            }
            try (PreparedStatement up = c.prepareStatement(
                    "UPDATE jr_docs SET head = ?, length = length + 1 WHERE doc = ?")) {
                up.setInt(1, rev);
                up.setString(2, doc);
                up.executeUpdate();
            }
            return entryReply(entryId, doc, member, rev, "accepted", null);
        });
    }

    Reply readEntry(String entryId) {
        return store.read(c -> {
            try (PreparedStatement q = c.prepareStatement(
                    "SELECT doc, member, rev, status, reason FROM jr_entries WHERE entry_id = ?")) {
                q.setString(1, entryId);
                try (ResultSet rs = q.executeQuery()) {
                    if (!rs.next()) return new Reply(404, obj("error", "no such entry", "entry_id", entryId));
                    Map<String, Object> out = obj("entry_id", entryId, "doc", rs.getString(1),
                            "member", rs.getString(2), "rev", rs.getInt(3), "status", rs.getString(4));
                    if (rs.getString(5) != null) out.put("reason", rs.getString(5));
                    return new Reply(200, out);
                }
            }
        });
    }

    // ---- helpers -----------------------------------------------------------------------------

    private String cachedMembership(Connection c, String doc, String member) throws SQLException {
        String status = cache.lookup(doc, member);
        if (status != null) return status;
        status = membership(c, doc, member);
        if (status != null && (config.cacheAnyStatus || status.equals("revoked"))) {
            cache.remember(doc, member, status);
        }
        return status;
    }

    private String membership(Connection c, String doc, String member) throws SQLException {
        String sql = config.memberDirectory
                ? "SELECT status FROM jr_members WHERE member = ? ORDER BY updated_at DESC LIMIT 1"
                : "SELECT status FROM jr_members WHERE member = ? AND doc = ?";
        try (PreparedStatement q = c.prepareStatement(sql)) {
            q.setString(1, member);
            if (!config.memberDirectory) q.setString(2, doc);
            try (ResultSet rs = q.executeQuery()) {
                return rs.next() ? rs.getString(1) : null;
            }
        }
    }

    private boolean lockDoc(Connection c, String doc, boolean lock) throws SQLException {
        try (PreparedStatement q = c.prepareStatement(
                "SELECT 1 FROM jr_docs WHERE doc = ?" + (lock ? " FOR UPDATE" : ""))) {
            q.setString(1, doc);
            try (ResultSet rs = q.executeQuery()) {
                return rs.next();
            }
        }
    }

    private Integer lockDocHead(Connection c, String doc) throws SQLException {
        try (PreparedStatement q = c.prepareStatement(
                "SELECT head FROM jr_docs WHERE doc = ?" + (config.lockDocument ? " FOR UPDATE" : ""))) {
            q.setString(1, doc);
            try (ResultSet rs = q.executeQuery()) {
                return rs.next() ? rs.getInt(1) : null;
            }
        }
    }

    private Reply storedEntry(Connection c, String entryId) throws SQLException {
        try (PreparedStatement q = c.prepareStatement(
                "SELECT doc, member, rev, status, reason FROM jr_entries WHERE entry_id = ?")) {
            q.setString(1, entryId);
            try (ResultSet rs = q.executeQuery()) {
                if (!rs.next()) return null;
                return entryReply(entryId, rs.getString(1), rs.getString(2), rs.getInt(3),
                        rs.getString(4), rs.getString(5));
            }
        }
    }

    private Reply reject(Connection c, String entryId, String doc, String member, int rev, String text,
                         String reason) throws SQLException {
        try (PreparedStatement ins = c.prepareStatement(
                "INSERT INTO jr_entries (entry_id, doc, member, rev, text, status, reason) "
                        + "VALUES (?, ?, ?, ?, ?, 'rejected', ?) ON CONFLICT (entry_id) DO NOTHING")) {
            ins.setString(1, entryId);
            ins.setString(2, doc);
            ins.setString(3, member);
            ins.setInt(4, rev);
            ins.setString(5, text);
            ins.setString(6, reason);
            ins.executeUpdate();
        }
        return entryReply(entryId, doc, member, rev, "rejected", reason);
    }

    private static void insertGrant(Connection c, String grantId, String doc, String member, String status,
                                    String reason) throws SQLException {
        try (PreparedStatement ins = c.prepareStatement(
                "INSERT INTO jr_grants (grant_id, doc, member, status, reason) VALUES (?, ?, ?, ?, ?)")) {
            ins.setString(1, grantId);
            ins.setString(2, doc);
            ins.setString(3, member);
            ins.setString(4, status);
            ins.setString(5, reason);
            ins.executeUpdate();
        }
    }

    private static Reply entryReply(String entryId, String doc, String member, int rev, String status,
                                    String reason) {
        Map<String, Object> b = obj("entry_id", entryId, "doc", doc, "member", member, "rev", rev, "status", status);
        if (reason != null) b.put("reason", reason);
        return new Reply("accepted".equals(status) ? 200 : 409, b);
    }

    private static Reply grantReply(String grantId, String doc, String member, String status, String reason) {
        Map<String, Object> b = obj("grant_id", grantId, "doc", doc, "member", member, "status", status);
        if (reason != null) b.put("reason", reason);
        return new Reply("granted".equals(status) ? 200 : 409, b);
    }

    private static Reply revokeReply(String revokeId, String doc, String member) {
        return new Reply(200, obj("revoke_id", revokeId, "doc", doc, "member", member, "status", "revoked"));
    }

    private static Reply noDoc(String doc) {
        return new Reply(404, obj("error", "no such document", "doc", doc));
    }

    private static String id(JsonNode body, String field) {
        String v = body.path(field).asText("");
        if (!ID.matcher(v).matches()) throw new BadRequest(field + " must be an id");
        return v;
    }

    static Map<String, Object> obj(Object... kv) {
        Map<String, Object> m = new LinkedHashMap<>();
        for (int i = 0; i < kv.length; i += 2) m.put((String) kv[i], kv[i + 1]);
        return m;
    }
}
