"""Tables and names shared by the auction roles; one schema for every variant.

Times are integer milliseconds since the Unix epoch on the clock a variant decides by
(PostgreSQL's, in the correct design). `auctions.version` is bumped by every accepted
bid and by the close (the CAS); `auctions.fence` is the largest fencing token that
closed it; `leases` holds the closer's lease.
"""

SCHEMA_LOCK = 0x6175_0001
"""Advisory lock (64-bit key space) around the DDL."""
BID_LOCK_CLASS = 0x6175
"""First half of the (class, hashtext(bid_id)) advisory lock that serialises resends."""
CLOSER_LEASE = "closer"

DB_NOW = "(extract(epoch FROM clock_timestamp()) * 1000)::bigint"
"""PostgreSQL's clock in epoch milliseconds: the correct design's clock authority."""

DDL = """
CREATE TABLE IF NOT EXISTS auctions (
    auction_id text PRIMARY KEY,
    end_time_ms bigint NOT NULL,
    status text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
    version bigint NOT NULL DEFAULT 0,
    high_bid text,
    high_amount bigint,
    winner text,
    winner_amount bigint,
    closed_at_ms bigint,
    fence bigint NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS auctions_due ON auctions (end_time_ms) WHERE status = 'open';
CREATE TABLE IF NOT EXISTS bids (
    id bigserial PRIMARY KEY,
    bid_id text NOT NULL UNIQUE,
    auction_id text NOT NULL,
    bidder text NOT NULL,
    amount bigint NOT NULL,
    status text NOT NULL CHECK (status IN ('accepted', 'rejected')),
    reason text,
    decided_at_ms bigint NOT NULL
);
CREATE INDEX IF NOT EXISTS bids_auction ON bids (auction_id, id);
CREATE TABLE IF NOT EXISTS leases (
    name text PRIMARY KEY,
    holder text NOT NULL,
    expires_at_ms bigint NOT NULL,
    token bigint NOT NULL
);
"""
