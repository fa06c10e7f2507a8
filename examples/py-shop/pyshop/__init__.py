"""py-shop: an inventory target for failmodel, in Python (aiohttp + asyncpg)."""
