"""The local SQLite cache: the connection, the one schema registry, lookups,
reference data, gift cards and the outbox. Built on the engine's value types."""
