package journal;

/** Tunables of one running replica. */
final class Config {
    /** Serialise appends of one document on its row lock. */
    final boolean lockDocument;
    /** Which membership statuses a replica may keep in its local cache. */
    final boolean cacheAnyStatus;
    /** Look the entry id up once, before the write transaction. */
    final boolean lookupBeforeTransaction;
    /** Resolve membership by member id. */
    final boolean memberDirectory;

    private Config(boolean lockDocument, boolean cacheAnyStatus, boolean lookupBeforeTransaction,
                   boolean memberDirectory) {
        this.lockDocument = lockDocument;
        this.cacheAnyStatus = cacheAnyStatus;
        this.lookupBeforeTransaction = lookupBeforeTransaction;
        this.memberDirectory = memberDirectory;
    }

    static Config forVariant(String variant) {
        switch (variant) {
            case "variant_a": return new Config(false, false, false, false);
            case "variant_b": return new Config(true, true, false, false);
            case "variant_c": return new Config(true, false, true, false);
            case "variant_d": return new Config(true, false, false, true);
            default: return new Config(true, false, false, false);
        }
    }
}
