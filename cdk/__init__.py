"""The WireSocket CDK app: one construct per concern, composed into stacks (SPEC §1, §9)."""
