"""Register (KMIP 1.4 section 4.3): store a managed object the client provides.

Registered: Symmetric Key, Secret Data, Opaque Object, Certificate, Public Key, Private Key,
Split Key; Template (deprecated since 1.3) and PGP Key are Feature Not Supported. An Object
Type that does not match the object is Invalid Field (11.4). The object is kept exactly as
registered (format, wrapping), so Get returns it in that format (4.11).

Server-set attributes: those of every creating operation (``objects.new_object_attributes``),
the Digest over the material as registered (3.17), Cryptographic Algorithm and Length from the
Key Block (a template value that contradicts the Key Block is Invalid Field), and for X.509
certificates Certificate Type, Certificate Length and the X.509 Certificate Identifier, Subject
and Issuer (3.8-3.12); an X.509 Certificate Value that does not parse is Invalid Field.

The template is checked and shaped like Create's (``attribute_policy.check_client_attributes``),
and a Name a live object of the tenant carries is Invalid Field (11.4), as for Create (found by
the check or, racing another request for the name, by the store: ``DuplicateName``).
"""

from __future__ import annotations

from cryptography import x509

from kmip_server.attribute_policy import check_client_attributes
from kmip_server.errors import FeatureNotSupported, InvalidField
from kmip_server.identity import Role
from kmip_server.model import (
    ATTRIBUTES,
    Attribute,
    Certificate,
    KeyBlock,
    Name,
    RegisterRequestPayload,
    RegisterResponsePayload,
    X509CertificateIdentifier,
    X509CertificateIssuer,
    X509CertificateSubject,
    object_type_of,
)
from kmip_server.objects import (
    attribute_values,
    digest_of,
    first_value,
    new_object_attributes,
)
from kmip_server.operations.context import HandlerSpec, OperationContext
from kmip_server.storage.objects import DuplicateName
from ttlv.kmip14 import CertificateType, ObjectType, Operation

__all__ = ["REGISTRABLE", "SPEC", "handle"]

REGISTRABLE = frozenset(
    {
        ObjectType.SYMMETRIC_KEY,
        ObjectType.SECRET_DATA,
        ObjectType.OPAQUE_OBJECT,
        ObjectType.CERTIFICATE,
        ObjectType.PUBLIC_KEY,
        ObjectType.PRIVATE_KEY,
        ObjectType.SPLIT_KEY,
    }
)
"""The object types Register accepts."""


def _key_block_attributes(
    object_type: ObjectType, key_block: KeyBlock, attributes: tuple[Attribute, ...]
) -> list[Attribute]:
    result: list[Attribute] = []
    for name, from_block in (
        ("Cryptographic Algorithm", key_block.cryptographic_algorithm),
        ("Cryptographic Length", key_block.cryptographic_length),
    ):
        given = first_value(attributes, name)
        if from_block is not None and given is not None and given != from_block:
            raise InvalidField(f"{name}: does not match the Key Block")
        value = from_block if from_block is not None else given
        if value is not None and object_type in ATTRIBUTES[name].applies_to:
            result.append(Attribute(name=name, value=value))
    return result


def _certificate_attributes(certificate: Certificate) -> list[Attribute]:
    result = [
        Attribute(name="Certificate Type", value=certificate.certificate_type),
        Attribute(name="Certificate Length", value=len(certificate.certificate_value)),
    ]
    if certificate.certificate_type is not CertificateType.X_509:
        return result
    try:
        parsed = x509.load_der_x509_certificate(certificate.certificate_value)
        issuer = parsed.issuer.public_bytes()
        subject = parsed.subject.public_bytes()
        serial = parsed.serial_number
    except ValueError:
        raise InvalidField("Certificate Value: not a DER X.509 certificate") from None
    serial_bytes = serial.to_bytes(max(1, (serial.bit_length() + 8) // 8), "big", signed=True)
    result += [
        Attribute(
            name="X.509 Certificate Identifier",
            value=X509CertificateIdentifier(
                issuer_distinguished_name=issuer, certificate_serial_number=serial_bytes
            ),
        ),
        Attribute(
            name="X.509 Certificate Subject", value=X509CertificateSubject(subject_distinguished_name=subject)
        ),
        Attribute(
            name="X.509 Certificate Issuer", value=X509CertificateIssuer(issuer_distinguished_name=issuer)
        ),
    ]
    return result


async def handle(ctx: OperationContext, payload: RegisterRequestPayload) -> RegisterResponsePayload:
    managed_object = payload.managed_object
    object_type = object_type_of(managed_object)
    if object_type is not payload.object_type:
        raise InvalidField("Object Type: does not match the object provided")
    if object_type not in REGISTRABLE:
        raise FeatureNotSupported("this object type cannot be registered")
    objects = ctx.objects
    attributes = check_client_attributes(object_type, payload.template_attribute, Operation.REGISTER)
    server_set: list[Attribute] = []
    key_block: KeyBlock | None = getattr(managed_object, "key_block", None)
    if key_block is not None:
        server_set += _key_block_attributes(object_type, key_block, attributes)
    if isinstance(managed_object, Certificate):
        server_set += _certificate_attributes(managed_object)
    digest = digest_of(managed_object)
    if digest is not None:
        server_set.append(Attribute(name="Digest", value=digest))
    names = [value.name_value for value in attribute_values(attributes, "Name") if isinstance(value, Name)]
    if names and await objects.name_in_use(names):
        raise InvalidField("Name: an object with this name already exists")
    state, stored = new_object_attributes(
        object_type,
        attributes,
        operation=Operation.REGISTER,
        now=ctx.now,
        server_set=server_set,
        settings=objects.settings,
    )
    try:
        record = await objects.create(managed_object, stored, state)
    except DuplicateName:
        raise InvalidField("Name: an object with this name already exists") from None
    return RegisterResponsePayload(unique_identifier=record.unique_identifier)


SPEC = HandlerSpec(
    operation=Operation.REGISTER,
    handler=handle,
    roles=frozenset({Role.TENANT_CLIENT}),
    mutates=True,
    sets_id_placeholder=True,
)
