"""``PlatformKeys.grant_envelope``: the only way a function may use the master key (SPEC §5).

The global stack grants it to the token function (``kms:Decrypt`` only; see ``test_global_stack.py``). Here
its refusals and conditions are exercised on a small stack of its own (synthesized once).
"""

from __future__ import annotations

from typing import Any, cast

import pytest
from aws_cdk import App, CfnElement, Stack, aws_iam
from aws_cdk.assertions import Template

from cdk.constructs.keys import ENCRYPTION_CONTEXT_KEYS, PlatformKeys

REQUIRED_CONDITIONS = {
    "ForAllValues:StringEquals": {"kms:EncryptionContextKeys": list(ENCRYPTION_CONTEXT_KEYS)},
    "Null": {"kms:EncryptionContext:tenantId": "false", "kms:EncryptionContext:kid": "false"},
}


@pytest.fixture(scope="module")
def keys_stack() -> tuple[Stack, PlatformKeys, aws_iam.Role]:
    """A stack with the platform keys and a role granted only kms:Decrypt on the master key."""
    stack = Stack(App(), "KeysProbe")
    keys = PlatformKeys(stack, "Keys")
    role = aws_iam.Role(stack, "Signer", assumed_by=aws_iam.ServicePrincipal("lambda.amazonaws.com"))
    keys.grant_envelope(role, ("kms:Decrypt",))
    return stack, keys, role


@pytest.mark.parametrize(
    "actions",
    [("kms:*",), ("kms:Encrypt",), ("kms:CreateGrant",), ("kms:ScheduleKeyDeletion",), ()],
    ids=["wildcard", "raw-encrypt", "create-grant", "key-deletion", "nothing"],
)
def test_grant_refuses_anything_but_envelope_operations(
    keys_stack: tuple[Stack, PlatformKeys, aws_iam.Role], actions: tuple[str, ...]
) -> None:
    _, keys, role = keys_stack

    with pytest.raises(ValueError, match="not envelope actions"):
        keys.grant_envelope(role, actions)


def test_grant_requires_exactly_the_tenant_and_kid_encryption_context(
    keys_stack: tuple[Stack, PlatformKeys, aws_iam.Role],
) -> None:
    stack, keys, _ = keys_stack
    template = Template.from_stack(stack)
    master = stack.get_logical_id(cast(CfnElement, keys.master_key.node.default_child))

    statements: list[dict[str, Any]] = [
        statement
        for policy in template.find_resources("AWS::IAM::Policy").values()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]
    assert statements == [
        {
            "Action": "kms:Decrypt",
            "Effect": "Allow",
            "Resource": {"Fn::GetAtt": [master, "Arn"]},
            "Condition": REQUIRED_CONDITIONS,
        }
    ]
