"""HQ's side: the PostgreSQL schema, and what HQ does when a till pushes a document,
checks a return online or raises its journal head."""
