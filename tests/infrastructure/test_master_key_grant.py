"""``PlatformKeys.grant_envelope`` and ``grant_master_key_rotation``: the only ways a function may use the
master keys (SPEC §5).

The global stack grants them to the token, admin and key-maintenance functions (see ``test_global_stack.py``).
Here their refusals and exact statements are exercised on a small stack of their own (synthesized once).
"""

from __future__ import annotations

from typing import Any, cast

import pytest
from aws_cdk import App, CfnElement, Stack, aws_iam
from aws_cdk.assertions import Template
from constructs import IConstruct

from cdk.constructs.keys import ENCRYPTION_CONTEXT_KEYS, MASTER_KEY_ALIAS, PlatformKeys

REQUIRED_CONDITIONS = {
    "ForAllValues:StringEquals": {"kms:EncryptionContextKeys": list(ENCRYPTION_CONTEXT_KEYS)},
    "Null": {"kms:EncryptionContext:tenantId": "false", "kms:EncryptionContext:kid": "false"},
}


@pytest.fixture(scope="module")
def keys_stack() -> tuple[Stack, PlatformKeys, aws_iam.Role]:
    """A stack with the platform keys and a role granted only kms:Decrypt on the master keys."""
    stack = Stack(App(), "KeysProbe")
    keys = PlatformKeys(stack, "Keys")
    role = aws_iam.Role(stack, "Signer", assumed_by=aws_iam.ServicePrincipal("lambda.amazonaws.com"))
    keys.grant_envelope(role, ("kms:Decrypt",))
    return stack, keys, role


def _id(stack: Stack, construct: IConstruct) -> str:
    return stack.get_logical_id(cast(CfnElement, construct.node.default_child))


def _statements(template: Template, role_id: str) -> list[dict[str, Any]]:
    return [
        statement
        for policy in template.find_resources("AWS::IAM::Policy").values()
        if {"Ref": role_id} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


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


def test_grant_requires_exactly_the_tenant_and_kid_encryption_context_on_both_slots(
    keys_stack: tuple[Stack, PlatformKeys, aws_iam.Role],
) -> None:
    # Both slots: the master alias may point at either, and keys not yet re-wrapped stay readable.
    stack, keys, role = keys_stack
    template = Template.from_stack(stack)
    master, standby = (_id(stack, key) for key in keys.master_key_slots)

    assert _statements(template, _id(stack, role)) == [
        {
            "Action": "kms:Decrypt",
            "Effect": "Allow",
            "Resource": [{"Fn::GetAtt": [master, "Arn"]}, {"Fn::GetAtt": [standby, "Arn"]}],
            "Condition": REQUIRED_CONDITIONS,
        }
    ]


def test_rotation_grant_moves_only_the_master_alias_between_the_two_slots() -> None:
    # Given a role granted the master-key rotation alone
    stack = Stack(App(), "RotationProbe", env={"account": "111122223333", "region": "eu-west-1"})
    keys = PlatformKeys(stack, "Keys")
    role = aws_iam.Role(stack, "Operator", assumed_by=aws_iam.ServicePrincipal("lambda.amazonaws.com"))
    keys.grant_master_key_rotation(role)
    slots = [{"Fn::GetAtt": [_id(stack, key), "Arn"]} for key in keys.master_key_slots]

    # When the stack is synthesized
    statements = _statements(Template.from_stack(stack), _id(stack, role))

    # Then it may re-point alias/wiresocket-master (AWS checks the alias and both keys) and resolve key ids,
    # and nothing else: no key or alias creation, no other alias, no cryptographic use.
    assert MASTER_KEY_ALIAS == "alias/wiresocket-master"
    assert statements == [
        {
            "Action": "kms:UpdateAlias",
            "Effect": "Allow",
            "Resource": [
                {
                    "Fn::Join": [
                        "",
                        ["arn:", {"Ref": "AWS::Partition"}, ":kms:eu-west-1:111122223333:" + MASTER_KEY_ALIAS],
                    ]
                },
                *slots,
            ],
        },
        {"Action": "kms:DescribeKey", "Effect": "Allow", "Resource": slots},
    ]
