"""The pure decision layer: the policy engine, the policy file, licence buckets, the shipped default."""
