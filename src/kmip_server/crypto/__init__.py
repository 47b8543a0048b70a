"""Server-side cryptography with managed keys: the usage gate every cryptographic operation
passes (``usage``), and the pure algorithm tables the operation handlers call (``symmetric``,
``mac``, ``rng``, ``derive``). Pure and synchronous except ``usage.use_key`` and
``usage.allocate_usage``, which read and write the tenant's objects."""
