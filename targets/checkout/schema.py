"""Tables and names shared by the checkout roles; one schema for every variant.

`orders` has a surrogate key so the `no_idempotency` variant can store a retry twice;
the other variants keep `order_id` unique by locking it before they check it.
"""

from targets.common.outbox import OUTBOX_DDL

TOPIC = "checkout.orders"
CONSUMER_GROUP = "checkout-shipping"
SCHEMA_LOCK = 0x636B_0001
"""Advisory lock (64-bit key space) around the DDL."""
ORDER_LOCK_CLASS = 0x636B
"""First half of the (class, hashtext(order_id)) advisory lock of one order (32-bit pair)."""

DDL = (
    """
CREATE TABLE IF NOT EXISTS inventory (
    sku text PRIMARY KEY,
    available integer NOT NULL
);
CREATE TABLE IF NOT EXISTS orders (
    id bigserial PRIMARY KEY,
    order_id text NOT NULL,
    sku text NOT NULL,
    qty integer NOT NULL,
    status text NOT NULL CHECK (status IN ('accepted', 'rejected'))
);
CREATE INDEX IF NOT EXISTS orders_order_id ON orders (order_id);
CREATE TABLE IF NOT EXISTS shipments_done (
    order_id text PRIMARY KEY,
    shipment_id text NOT NULL
);
"""
    + OUTBOX_DDL
)
