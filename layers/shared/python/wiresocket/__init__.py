"""WireSocket security plane shared package (the Lambda layer)."""
