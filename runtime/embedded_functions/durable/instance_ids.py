"""Instance IDs the host refuses at start, with the host's messages.

DurableClient.StartNewAsync (azure-functions-durable-extension) throws an ArgumentException
for an ID that starts with `@` (entity IDs), holds `/ \\ # ?` or a control character, or is
over 256 characters; HttpApiHandler answers it 400 "One or more of the arguments submitted
is incorrect". Two of the host's exceptions pass their arguments in swapped order
(`new ArgumentException(nameof(instanceId), "...")`), so .NET words their message as
`instanceId (Parameter '...')`: reproduced, since the SDK raises that message.
"""

from __future__ import annotations

import unicodedata

MAX_INSTANCE_ID_LENGTH = 256


class InvalidInstanceId(ValueError):
    pass


def _is_control(char: str) -> bool:
    # .NET's char.IsControl: the Unicode category Cc.
    return unicodedata.category(char) == "Cc"


def check_instance_id(instance_id: str) -> None:
    if instance_id.startswith("@"):
        raise InvalidInstanceId(
            "instanceId (Parameter 'Orchestration instance ids must not start with @.')"
        )
    if any(c in "/\\#?" or _is_control(c) for c in instance_id):
        raise InvalidInstanceId(
            "instanceId (Parameter 'Orchestration instance ids must not contain /, \\, #, ?, "
            "or control characters.')"
        )
    if len(instance_id) > MAX_INSTANCE_ID_LENGTH:
        raise InvalidInstanceId(
            f"Instance ID lengths must not exceed {MAX_INSTANCE_ID_LENGTH} characters."
        )
