"""The signed, append-only fiscal journal (NF525 principles): records, the chain,
closures, verification, the yearly archive, and the signing keys."""
