"""One construct per concern: keys, tables, layer, functions, audit, outbox, control API, web ACL, WebSocket API,
termination events, alarms, and grants on other regions' resources by name (regional_access).

Note: this package shares its last name with the ``constructs`` library; it is only ever imported as
``cdk.constructs``, and ``cdk/app.py`` takes its own directory off ``sys.path`` so the library is never shadowed.
"""
