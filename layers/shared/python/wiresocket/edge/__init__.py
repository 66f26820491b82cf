"""Event → request model, and domain error → response, once per surface."""
