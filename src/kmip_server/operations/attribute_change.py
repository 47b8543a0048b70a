"""The write path shared by Add, Modify and Delete Attribute (KMIP 1.4 sections 4.14-4.16).

Read the object, compute the change (``attribute_policy``: pure), check what needs the store (a
Name another live object of the tenant carries: Illegal Operation, 11.15 and 11.16; the rule is
``TenantObjects.name_in_use``, the same as Create's and Register's; the store refuses it too,
``DuplicateName``, when another request gave the name away meanwhile), and save it against the
revision read. Another request may change the object in between (on this Core or another): then
the change is computed again from what is stored now, at most ``MAX_ATTEMPTS`` times, and
``ConcurrentModification`` (General Failure, "retry") after that.
"""

from __future__ import annotations

from collections.abc import Callable

from kmip_server.errors import ConcurrentModification, IllegalOperation
from kmip_server.model import Attribute, Name
from kmip_server.operations.context import OperationContext
from kmip_server.storage.objects import DuplicateName, ObjectRecord

__all__ = ["MAX_ATTEMPTS", "apply_change"]

MAX_ATTEMPTS = 3
"""Times a change is computed and saved before a concurrent writer's win is reported (Re-key
retries its write of the existing key as often)."""

Step = Callable[[ObjectRecord], tuple[ObjectRecord, Attribute]]
"""The change: the record as read -> the record to store and the attribute to answer."""


async def apply_change(
    ctx: OperationContext, unique_identifier: str, step: Step, *, gives_value: bool = True
) -> Attribute:
    """Apply ``step`` to the tenant's object ``unique_identifier`` and store the result;
    returns the attribute the response carries. ``gives_value``: the answer is a value the
    object takes on (Add, Modify), so a Name in it must be the object's alone."""
    objects = ctx.objects
    for attempt in range(MAX_ATTEMPTS):
        record = await objects.load(unique_identifier, now=ctx.now)
        after, answer = step(record)
        value = answer.value
        if (
            gives_value
            and answer.name == "Name"
            and isinstance(value, Name)
            and await objects.name_in_use((value.name_value,), other_than=record.unique_identifier)
        ):
            raise IllegalOperation("Name: another object already has this name")
        try:
            await objects.save(record, after)
        except DuplicateName:
            raise IllegalOperation("Name: another object already has this name") from None
        except ConcurrentModification:
            if attempt + 1 == MAX_ATTEMPTS:
                raise
            continue
        return answer
    raise ConcurrentModification  # pragma: no cover - the loop returns or raises
