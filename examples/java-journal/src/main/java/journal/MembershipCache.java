package journal;

import java.util.concurrent.ConcurrentHashMap;

/** A replica-local memo of membership statuses, with a time to live. */
final class MembershipCache {
    private record Item(String status, long expiresAtNanos) {}

    private final ConcurrentHashMap<String, Item> items = new ConcurrentHashMap<>();
    private final long ttlNanos;

    MembershipCache(long ttlMillis) {
        this.ttlNanos = ttlMillis * 1_000_000L;
    }

    String lookup(String doc, String member) {
        Item it = items.get(key(doc, member));
        if (it == null) return null;
        if (System.nanoTime() > it.expiresAtNanos) {
            items.remove(key(doc, member), it);
            return null;
        }
        return it.status;
    }

    void remember(String doc, String member, String status) {
        items.put(key(doc, member), new Item(status, System.nanoTime() + ttlNanos));
        if (items.size() > 100_000) items.clear();
    }

    void forget(String doc, String member) {
        items.remove(key(doc, member));
    }

    private static String key(String doc, String member) {
        return doc + "\u0000" + member;
    }
}
