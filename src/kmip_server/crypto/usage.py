"""May this managed object be used for this cryptographic purpose now? And with which
parameters? The one gate every cryptographic operation (Encrypt, Decrypt, Sign, Signature
Verify, MAC, MAC Verify, Derive Key, and server-side wrapping) passes before touching a key.

The usage asked for is a single ``CryptographicUsageMask`` member (``Usage``: ENCRYPT, DECRYPT,
SIGN, VERIFY, MAC_GENERATE, MAC_VERIFY, WRAP_KEY, UNWRAP_KEY, DERIVE_KEY). Each rule below is a
table or one comparison, and each refusal is ``PermissionDenied`` (11.30-11.35: "Object specified
is not able to be used for ...") with a message naming the rule, never key bytes:

- Object type: only Managed Cryptographic Objects (2.2) are used cryptographically; anything
  else (Opaque Object, Template) is refused.
- Cryptographic Usage Mask (3.19): the usage must be in the object's mask.
- State (3.22): ``USAGES_BY_STATE``. Active objects may be used for everything their mask
  allows; Deactivated and Compromised ones SHALL NOT apply protection, so only processing usages
  (``PROCESSING_USAGES``: decrypt, verify, unwrap, MAC verify...) remain; Pre-Active ones for
  nothing. Destroyed objects have no key value: ``KeyValueNotPresent`` (11.30).
- Dates: no processing before the Process Start Date (3.25), no protection after the Protect
  Stop Date (3.26).
- Usage Limits (3.21, 4.29 "the server SHALL obtain an allocation from the current Usage Limits
  value prior to performing the encryption operation"): only protecting usages are limited. The
  Usage Limits Count is decremented in the store by the units the request protects (bytes of
  data for Unit Byte, one per operation for Unit Object) with a compare-and-set
  (``TenantObjects.save``) that re-reads and decides again when another request won, up to
  ``MAX_ALLOCATION_ATTEMPTS`` times. A count that does not cover the request is refused and not
  decremented. The write is journaled, so a failed or undone batch item gives its units back.

Parameters (4.29-4.34: "If omitted then the Cryptographic Parameters associated with the
Managed Cryptographic Object with the lowest Attribute Index SHALL be used"): a request often
gives only some fields (a Random IV without the mode), so ``resolve_parameters`` merges field by
field: what the request gives wins, each missing field comes from the object's first
Cryptographic Parameters attribute, and a missing Cryptographic Algorithm comes from the object's
Cryptographic Algorithm attribute. The algorithm resolved is the operation's; whether the key
can serve it is for the operation to say.

Entry points: ``use_key`` (all of it, for a handler) and its parts ``usage_refusal``,
``check_usage``, ``allocate_usage``, ``resolve_parameters``.
"""

from __future__ import annotations

import dataclasses
import functools
import operator
from dataclasses import dataclass

from kmip_server.errors import (
    ConcurrentModification,
    KeyValueNotPresent,
    PermissionDenied,
)
from kmip_server.model import CryptographicParameters, ManagedObject, UsageLimits
from kmip_server.model.attribute_table import ALL_CRYPTOGRAPHIC_OBJECTS
from kmip_server.objects import DESTROYED_STATES, TenantObjects, first_value, replace_attribute
from kmip_server.storage.objects import ObjectRecord
from ttlv.kmip14 import CryptographicAlgorithm, CryptographicUsageMask, State, UsageLimitsUnit

__all__ = [
    "MAX_ALLOCATION_ATTEMPTS",
    "PROCESSING_USAGES",
    "PROTECTING_USAGES",
    "USAGE_NAMES",
    "USAGES_BY_STATE",
    "KeyUse",
    "Usage",
    "allocate_usage",
    "check_usage",
    "key_algorithm",
    "resolve_parameters",
    "usage_limit_units",
    "usage_refusal",
    "use_key",
]

Usage = CryptographicUsageMask
"""A requested usage is one member of the mask (``Usage.ENCRYPT``, ``Usage.MAC_VERIFY``...)."""

_U = CryptographicUsageMask

MAX_ALLOCATION_ATTEMPTS = 8
"""Compare-and-set rounds of a Usage Limits allocation racing other requests on one key."""

PROCESSING_USAGES = (
    _U.VERIFY
    | _U.DECRYPT
    | _U.UNWRAP_KEY
    | _U.MAC_VERIFY
    | _U.VALIDATE_CRYPTOGRAM
    | _U.TRANSLATE_DECRYPT
    | _U.TRANSLATE_UNWRAP
)
"""Usages that process protected data (3.22: decryption, verification, unwrapping, MAC
verification). Not limited by Usage Limits (3.21) and allowed to Deactivated and Compromised
objects."""

_EVERY_USAGE = functools.reduce(operator.or_, _U, _U(0))
PROTECTING_USAGES = _EVERY_USAGE & ~PROCESSING_USAGES
"""Every other usage applies protection (encrypt, sign, wrap, MAC generate, derive...)."""

USAGES_BY_STATE: dict[State, CryptographicUsageMask] = {
    State.PRE_ACTIVE: _U(0),  # SHALL NOT be used for any cryptographic purpose
    State.ACTIVE: _EVERY_USAGE,  # all that the mask allows
    State.DEACTIVATED: PROCESSING_USAGES,  # SHALL NOT apply protection
    State.COMPROMISED: PROCESSING_USAGES,  # SHALL NOT apply protection
    State.DESTROYED: _U(0),
    State.DESTROYED_COMPROMISED: _U(0),
}
"""State -> the usages an object in it may serve (3.22)."""

USAGE_NAMES: dict[CryptographicUsageMask, str] = {
    _U.SIGN: "signing",
    _U.VERIFY: "signature verification",
    _U.ENCRYPT: "encryption",
    _U.DECRYPT: "decryption",
    _U.WRAP_KEY: "key wrapping",
    _U.UNWRAP_KEY: "key unwrapping",
    _U.MAC_GENERATE: "MAC generation",
    _U.MAC_VERIFY: "MAC verification",
    _U.DERIVE_KEY: "key derivation",
}
"""Usage -> the words of its refusal messages ("... cannot be used for encryption: ...")."""

_STATE_WORDS: dict[State, str] = {
    State.PRE_ACTIVE: "the object is Pre-Active",
    State.ACTIVE: "the object is Active",
    State.DEACTIVATED: "the object is Deactivated and may only process protected data",
    State.COMPROMISED: "the object is Compromised and may only process protected data",
    State.DESTROYED: "the object is destroyed",
    State.DESTROYED_COMPROMISED: "the object is destroyed",
}


def _words(usage: CryptographicUsageMask) -> str:
    return USAGE_NAMES.get(usage, "this purpose")


def usage_refusal(record: ObjectRecord, usage: CryptographicUsageMask, now: int) -> str | None:
    """Why ``record`` may not serve ``usage`` at ``now`` (a client-safe sentence), or None.

    Checks object type, usage mask, state and dates; not Usage Limits (``allocate_usage``)."""
    if record.object_type not in ALL_CRYPTOGRAPHIC_OBJECTS:
        return "the object is not a cryptographic object"
    mask = first_value(record.attributes, "Cryptographic Usage Mask")
    if not isinstance(mask, int) or not mask & usage:
        return f"its Cryptographic Usage Mask does not allow {_words(usage)}"
    if not usage & USAGES_BY_STATE[record.state]:
        return _STATE_WORDS[record.state]
    if usage & PROCESSING_USAGES:
        start = first_value(record.attributes, "Process Start Date")
        if isinstance(start, int) and now < start:
            return "its Process Start Date has not been reached"
    else:
        stop = first_value(record.attributes, "Protect Stop Date")
        if isinstance(stop, int) and now > stop:
            return "its Protect Stop Date has passed"
    return None


def check_usage(record: ObjectRecord, usage: CryptographicUsageMask, now: int) -> None:
    """Raise unless ``record`` may serve ``usage`` now: ``KeyValueNotPresent`` for a destroyed
    object, ``PermissionDenied`` naming the rule otherwise."""
    if record.state in DESTROYED_STATES or record.material is None:
        raise KeyValueNotPresent("the object was destroyed: its key value is not present")
    refusal = usage_refusal(record, usage, now)
    if refusal is not None:
        raise PermissionDenied(f"the object cannot be used for {_words(usage)}: {refusal}")


def usage_limit_units(limits: UsageLimits, data_length: int) -> int:
    """How many Usage Limits Units one operation on ``data_length`` bytes consumes."""
    if limits.usage_limits_unit is UsageLimitsUnit.BYTE:
        return data_length
    return 1  # Object (or no unit given): one per operation


async def allocate_usage(
    objects: TenantObjects,
    record: ObjectRecord,
    usage: CryptographicUsageMask,
    *,
    now: int,
    data_length: int = 0,
) -> ObjectRecord:
    """Obtain the Usage Limits allocation a protecting ``usage`` of ``data_length`` bytes needs,
    decrementing the stored Usage Limits Count; returns the record as stored afterwards (or
    ``record`` when nothing is limited). ``PermissionDenied`` when the count does not cover it.

    A concurrent change of the object re-reads it and checks everything again (the other
    request may have revoked it or spent the count)."""
    if usage & PROCESSING_USAGES:
        return record
    current = record
    for _attempt in range(MAX_ALLOCATION_ATTEMPTS):
        limits = first_value(current.attributes, "Usage Limits")
        if not isinstance(limits, UsageLimits):
            return current
        remaining = limits.usage_limits_count
        if remaining is None:
            remaining = limits.usage_limits_total
        if remaining is None:
            return current
        units = usage_limit_units(limits, data_length)
        if units > remaining:
            raise PermissionDenied(
                f"the object cannot be used for {_words(usage)}: its Usage Limits are exhausted"
            )
        spent = dataclasses.replace(limits, usage_limits_count=remaining - units)
        after = dataclasses.replace(
            current,
            attributes=replace_attribute(current.attributes, "Usage Limits", spent),
        )
        try:
            return await objects.save(current, after)
        except ConcurrentModification:
            current = await objects.load(current.unique_identifier, now=now)
            check_usage(current, usage, now)
    raise ConcurrentModification


def key_algorithm(record: ObjectRecord) -> CryptographicAlgorithm | None:
    """The object's Cryptographic Algorithm attribute, if it has one."""
    value = first_value(record.attributes, "Cryptographic Algorithm")
    return value if isinstance(value, CryptographicAlgorithm) else None


def resolve_parameters(
    record: ObjectRecord, requested: CryptographicParameters | None
) -> CryptographicParameters:
    """The parameters an operation uses: the request's fields, each missing one from the
    object's first Cryptographic Parameters attribute, and the Cryptographic Algorithm from the
    object's Cryptographic Algorithm attribute when neither names one.

    The algorithm resolved is the operation's (an AES key whose Cryptographic Parameters name
    HMAC-SHA256 is used for HMAC, as the OASIS CS-AC test cases do); whether the key can serve
    it is the operation's to decide (``KeyUse.key_algorithm``)."""
    stored = first_value(record.attributes, "Cryptographic Parameters")
    merged = requested if requested is not None else CryptographicParameters()
    if isinstance(stored, CryptographicParameters):
        fills = {
            field.name: getattr(stored, field.name)
            for field in dataclasses.fields(CryptographicParameters)
            if getattr(merged, field.name) is None and getattr(stored, field.name) is not None
        }
        if fills:
            merged = dataclasses.replace(merged, **fills)
    own = key_algorithm(record)
    if own is not None and merged.cryptographic_algorithm is None:
        merged = dataclasses.replace(merged, cryptographic_algorithm=own)
    return merged


@dataclass(frozen=True, slots=True)
class KeyUse:
    """A key cleared for one use: its record (after any Usage Limits allocation), its unwrapped
    managed object, and the parameters resolved for the request."""

    record: ObjectRecord
    managed_object: ManagedObject = dataclasses.field(repr=False)
    parameters: CryptographicParameters

    @property
    def algorithm(self) -> CryptographicAlgorithm | None:
        """The operation's algorithm (``resolve_parameters``)."""
        return self.parameters.cryptographic_algorithm

    @property
    def key_algorithm(self) -> CryptographicAlgorithm | None:
        """The key's own Cryptographic Algorithm attribute."""
        return key_algorithm(self.record)


async def use_key(
    objects: TenantObjects,
    unique_identifier: str,
    usage: CryptographicUsageMask,
    *,
    now: int,
    parameters: CryptographicParameters | None = None,
    data_length: int = 0,
) -> KeyUse:
    """Load the tenant's object, check it may serve ``usage`` now (``check_usage``), resolve the
    parameters, obtain the Usage Limits allocation for ``data_length`` bytes, and unwrap it.

    Raises ``ItemNotFound``, ``KeyValueNotPresent``, ``PermissionDenied`` (each rule). Whether
    the object's type and key suit the algorithm is the caller's to check (a wrong key type is
    ``PermissionDenied`` too, 11.30-11.35)."""
    record = await objects.load(unique_identifier, now=now)
    check_usage(record, usage, now)
    resolved = resolve_parameters(record, parameters)
    record = await allocate_usage(objects, record, usage, now=now, data_length=data_length)
    managed_object = await objects.managed_object(record)
    return KeyUse(record=record, managed_object=managed_object, parameters=resolved)
