"""Pure domain code: no boto3, no os.environ, no I/O."""
