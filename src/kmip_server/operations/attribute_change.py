"""The write path shared by Add, Modify and Delete Attribute (KMIP 1.4 sections 4.14-4.16).

Read the object, compute the change (``attribute_policy``: pure), check what needs the store (a
Name another live object of the tenant carries: Illegal Operation, 11.15 and 11.16), and save
it against the revision read. Another request may change the object in between (on this Core
or another): then the change is computed again from what is stored now, at most
``MAX_ATTEMPTS`` times, and ``ConcurrentModification`` (General Failure, "retry") after that.
"""

from __future__ import annotations

from collections.abc import Callable

from kmip_server.errors import ConcurrentModification, IllegalOperation
from kmip_server.model import Attribute, Name
from kmip_server.objects import DESTROYED_STATES, TenantObjects
from kmip_server.operations.context import OperationContext
from kmip_server.storage.objects import LocateQuery, ObjectRecord

__all__ = ["MAX_ATTEMPTS", "apply_change", "name_carried_elsewhere"]

MAX_ATTEMPTS = 3
"""Times a change is computed and saved before a concurrent writer's win is reported."""

Step = Callable[[ObjectRecord], tuple[ObjectRecord, Attribute]]
"""The change: the record as read -> the record to store and the attribute to answer."""


async def name_carried_elsewhere(objects: TenantObjects, name: str, unique_identifier: str) -> bool:
    """Whether a live (not destroyed) object of the tenant other than ``unique_identifier``
    has the Name ``name``. Destroyed objects keep their names without blocking them, as in
    Create and Register."""
    for record in await objects.find(LocateQuery(names=(name,))):
        if record.unique_identifier != unique_identifier and record.state not in DESTROYED_STATES:
            return True
    return False


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
            and await name_carried_elsewhere(objects, value.name_value, record.unique_identifier)
        ):
            raise IllegalOperation("Name: another object already has this name")
        try:
            await objects.save(record, after)
        except ConcurrentModification:
            if attempt + 1 == MAX_ATTEMPTS:
                raise
            continue
        return answer
    raise ConcurrentModification  # pragma: no cover - the loop returns or raises
