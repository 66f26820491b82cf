"""The local stack: embedded moto, resources from the shared definitions, HTTP and WebSocket gateways.

Never imported by handlers.
"""
