"""A moto KMS server on loopback for the keystore tests, run in its own process.

    python -m tests.support.moto_kms_server

prints ``PORT <n>`` on stdout once the server listens on 127.0.0.1:<n> (an OS-chosen free port),
and serves until its stdin is closed.

Fidelity rules added to moto 5.2 (real AWS KMS behaves like this, moto does not):
- Encrypt and Decrypt with a key that is not Enabled are refused: ``DisabledException`` for a
  disabled key, ``KMSInvalidStateException`` for any other state (PendingDeletion, ...). This is
  what the kill-switch tests rely on. (AWS KMS API reference, Encrypt and Decrypt, "Errors".)
- Decrypt with a ``KeyId`` other than the key that made the ciphertext is refused with
  ``IncorrectKeyException``; moto answers ``AccessDeniedException``.
These are applied to moto's backend in this process only; nothing else of moto is changed.
"""

from __future__ import annotations

import sys
from typing import Any

from moto.core.exceptions import JsonRESTError
from moto.kms import utils
from moto.kms.models import KmsBackend
from moto.server import ThreadedMotoServer


def enforce_kms_fidelity() -> None:
    def require_usable(backend: Any, key_id: str) -> None:
        key = backend.keys.get(key_id)
        if key is None:
            return  # moto's own NotFoundException follows
        if key.key_state == "Disabled":
            raise JsonRESTError("DisabledException", f"{key.arn} is disabled.")
        if key.key_state != "Enabled":
            raise JsonRESTError("KMSInvalidStateException", f"{key.arn} is {key.key_state}.")

    original_encrypt = KmsBackend.encrypt

    def encrypt(self: Any, key_id: str, plaintext: bytes, encryption_context: dict[str, str]) -> Any:
        require_usable(self, self.any_id_to_key_id(key_id))
        return original_encrypt(self, key_id, plaintext, encryption_context)

    def decrypt(
        self: Any, ciphertext_blob: bytes, encryption_context: dict[str, str], key_id: str | None = None
    ) -> tuple[bytes, str]:
        if key_id is not None:
            require_usable(self, self.any_id_to_key_id(key_id))
        plaintext, actual_key_id = utils.decrypt(
            master_keys=self.keys, ciphertext_blob=ciphertext_blob, encryption_context=encryption_context
        )
        if key_id is not None and self.any_id_to_key_id(key_id) != actual_key_id:
            raise JsonRESTError("IncorrectKeyException", "The key ID in the request does not match.")
        require_usable(self, actual_key_id)
        return plaintext, self.keys[actual_key_id].arn

    KmsBackend.encrypt = encrypt  # type: ignore[method-assign]
    KmsBackend.decrypt = decrypt  # type: ignore[method-assign]


def main() -> int:
    enforce_kms_fidelity()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    _, port = server.get_host_and_port()
    sys.stdout.write(f"PORT {port}\n")
    sys.stdout.flush()
    try:
        sys.stdin.read()  # returns when the parent closes our stdin (or dies)
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
