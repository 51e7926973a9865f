"""The policy engine: value types, money and VAT, codes, rules R01–R19, refund routing.

Pure Python: no SQLite, no I/O, no clock unless passed in. Every decision of the
till is taken here, and a test can prove every rule without a cache or a window."""
