"""Who may decide, and the record of it: review transitions and service, tokens, the bootstrap admin,
the webhook, the attestor, audit checkpoints and their verification."""
