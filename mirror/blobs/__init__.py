"""One file's life: fetch under single-flight and leases, spool, scan, gate, store, live streaming,
housekeeping (eviction)."""
