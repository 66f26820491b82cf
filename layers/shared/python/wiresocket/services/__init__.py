"""Use cases over ports. Services never import boto3 or read the environment."""
