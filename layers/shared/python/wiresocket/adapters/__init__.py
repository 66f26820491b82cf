"""Implementations of the ports over AWS (boto3, pynamodb). Adapters hold no policy."""
