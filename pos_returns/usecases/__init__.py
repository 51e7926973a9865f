"""The use cases the till offers: log in, plan and complete a return, no-receipt ID
checks, fine-jewelry mode, the manager's review, reports and closures. The UI calls
these; they call the engine, the cache, the journal, sync, documents and devices."""
