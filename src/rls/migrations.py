"""The PostgreSQL schema of OpenKCM, as an ordered list of migrations (data, applied by ``rls.runner``).

Invariants:
- A migration, once released, never changes: its checksum is recorded when it is applied and
  the runner refuses a database whose recorded checksums differ from these. Changes are new
  migrations with the next version.
- Placeholders: ``{schema}``, ``{owner}``, ``{app}`` become quoted identifiers (``Roles``);
  nothing else is substituted, and no value is ever spliced into SQL at run time.
- Every tenant-owned table (objects, object_names, held_names, tenant_roots, service_keys) has row-level
  security ENABLEd and FORCEd, with one policy admitting the rows of the tenant of the running
  transaction (``rls.tenant``) for reading and for writing (``WITH CHECK``).
- The system tables (ivk_versions, seal_config) hold no tenant: FORCEd row-level security with
  one policy for the application role only, and privileges for it only, so that no other role,
  the owner included, reads an IVK blob or the seal configuration.
- Migration 2 adds the one-round-trip reads (``scoped_get_object``, ``scoped_find_by_name``):
  ``SECURITY INVOKER`` functions that scope their own transaction to the tenant they are given
  (as ``rls.tenant.set_tenant`` does) before reading, so the policies apply as to any query.
- Migration 3 adds ``held_names``: the names live objects hold (``kmip_server.storage.objects``),
  its primary key (tenant, name) the guarantee that two writers cannot both give one name to
  two live objects of a tenant. Each row is one of the object's ``object_names`` rows (foreign
  key), so it goes with that row or the object. Existing names are backfilled: the oldest live
  object carrying a name holds it (row-level security is lifted for the owner only within the
  migration's transaction, to read every tenant's rows once).
- Migration 4 adds ``service_keys.wrap_count``: the L4 wraps reserved under each L3 version
  (``kmip_server.hierarchy``), so that the Cores sharing a database together never make more
  than the AES-GCM bound under one version. A column of the tenant-owned table: its policy
  and its grants (the application role updates the table) cover it. How many wraps an existing
  version made was never counted: each starts spent (``unseal.blob.MAX_WRAPS_PER_KEY``, the most
  any setting allows), so its service rotates to a new L3 version at its next wrap.
- The only paths across tenants are three ``SECURITY DEFINER`` functions (the operator scans of
  ``HierarchyStore``: tenant roots by page, roots wrapped under old IVK versions, references
  to one IVK version). They run as the owner, whose one extra policy lets it read tenant roots,
  with a fixed ``search_path``; they touch no managed object.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from rls.tenant import SCOPE_SETTING, TENANT_SCOPE_TOKEN, TENANT_SETTING
from unseal.blob import MAX_WRAPS_PER_KEY

__all__ = ["LATEST_VERSION", "MIGRATIONS", "SCHEMA", "Migration"]

SCHEMA = "openkcm"


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str  # one script; placeholders as in the module docstring

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


# The tenant of the running transaction, or NULL: the expression every tenant policy compares
# ``tenant_id`` with. Policies store it parsed, so no later search_path can change its meaning.
_CURRENT_TENANT = (
    f"(CASE WHEN pg_catalog.current_setting('{SCOPE_SETTING}', true) OPERATOR(pg_catalog.=) "
    f"{TENANT_SCOPE_TOKEN} THEN NULLIF(pg_catalog.current_setting('{TENANT_SETTING}', true), '') END)"
)


def _tenant_policy(table: str) -> str:
    return (
        f"ALTER TABLE {{schema}}.{table} ENABLE ROW LEVEL SECURITY;\n"
        f"ALTER TABLE {{schema}}.{table} FORCE ROW LEVEL SECURITY;\n"
        f"CREATE POLICY tenant_rows ON {{schema}}.{table}\n"
        f"    USING (tenant_id = {_CURRENT_TENANT})\n"
        f"    WITH CHECK (tenant_id = {_CURRENT_TENANT});\n"
    )


def _core_only(table: str) -> str:
    return (
        f"ALTER TABLE {{schema}}.{table} ENABLE ROW LEVEL SECURITY;\n"
        f"ALTER TABLE {{schema}}.{table} FORCE ROW LEVEL SECURITY;\n"
        f"CREATE POLICY core_only ON {{schema}}.{table} TO {{app}} USING (true) WITH CHECK (true);\n"
        f"REVOKE ALL ON {{schema}}.{table} FROM PUBLIC;\n"
        f"GRANT SELECT, INSERT, UPDATE ON {{schema}}.{table} TO {{app}};\n"
    )


_V1_TABLES = """
CREATE TABLE {schema}.objects (
    seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    unique_identifier text NOT NULL UNIQUE,
    tenant_id text NOT NULL CHECK (tenant_id <> ''),
    service text NOT NULL,
    object_type integer NOT NULL,
    state integer NOT NULL,
    attributes bytea NOT NULL,
    material bytea,
    revision bigint NOT NULL
);
CREATE INDEX objects_by_type ON {schema}.objects (tenant_id, object_type, state, seq);
CREATE INDEX objects_by_state ON {schema}.objects (tenant_id, state, seq);
CREATE INDEX objects_by_service ON {schema}.objects (tenant_id, service, seq);
CREATE INDEX objects_by_tenant ON {schema}.objects (tenant_id, seq);

CREATE TABLE {schema}.object_names (
    tenant_id text NOT NULL CHECK (tenant_id <> ''),
    name text NOT NULL,
    seq bigint NOT NULL REFERENCES {schema}.objects (seq) ON DELETE CASCADE,
    PRIMARY KEY (tenant_id, name, seq)
);
CREATE INDEX object_names_by_object ON {schema}.object_names (seq);

CREATE TABLE {schema}.tenant_roots (
    tenant_id text PRIMARY KEY CHECK (tenant_id <> ''),
    l2_id text NOT NULL UNIQUE,
    keystore_kind text NOT NULL,
    l1_key_id text NOT NULL,
    sovereign_binding bytea NOT NULL,
    sovereign_ivk integer NOT NULL,
    active_binding bytea,
    active_ivk integer,
    linked boolean NOT NULL,
    last_l1_check double precision,
    l1_state integer NOT NULL,
    l1_state_at double precision NOT NULL,
    created_at double precision NOT NULL,
    revision bigint NOT NULL
);
CREATE INDEX tenant_roots_sovereign_ivk ON {schema}.tenant_roots (sovereign_ivk);
CREATE INDEX tenant_roots_active_ivk ON {schema}.tenant_roots (active_ivk);

CREATE TABLE {schema}.service_keys (
    tenant_id text NOT NULL CHECK (tenant_id <> ''),
    service text NOT NULL,
    version integer NOT NULL,
    state integer NOT NULL,
    blob bytea NOT NULL,
    created_at double precision NOT NULL,
    PRIMARY KEY (tenant_id, service, version)
);

CREATE TABLE {schema}.ivk_versions (
    version integer PRIMARY KEY,
    state integer NOT NULL,
    blob bytea,
    created_at double precision NOT NULL,
    wrap_count bigint NOT NULL DEFAULT 0,
    grace_at double precision,
    deprecated_at double precision,
    retired_at double precision
);
CREATE UNIQUE INDEX ivk_versions_one_active ON {schema}.ivk_versions (state) WHERE state = 1;

CREATE TABLE {schema}.seal_config (
    singleton integer PRIMARY KEY CHECK (singleton = 1),
    cluster_id text NOT NULL,
    region text NOT NULL,
    mode text NOT NULL,
    threshold integer NOT NULL,
    share_count integer NOT NULL,
    check_value bytea NOT NULL,
    seal_blob bytea,
    seal_keystore text,
    seal_key_id text,
    share_set_id bigint
);
"""

_V1_SCANS = """
CREATE POLICY operator_scans ON {schema}.tenant_roots FOR SELECT TO {owner} USING (true);

CREATE FUNCTION {schema}.scan_tenant_roots(after_tenant text, max_rows integer, linked_only boolean)
RETURNS SETOF {schema}.tenant_roots
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
    SELECT * FROM {schema}.tenant_roots
    WHERE tenant_id > after_tenant AND (linked OR NOT linked_only)
    ORDER BY tenant_id LIMIT max_rows
$$;

CREATE FUNCTION {schema}.scan_tenant_roots_wrapped_below(
    ivk_version integer, after_tenant text, max_rows integer)
RETURNS SETOF {schema}.tenant_roots
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
    SELECT * FROM {schema}.tenant_roots
    WHERE tenant_id > after_tenant AND (sovereign_ivk < ivk_version OR active_ivk < ivk_version)
    ORDER BY tenant_id LIMIT max_rows
$$;

CREATE FUNCTION {schema}.ivk_references(ivk_version integer)
RETURNS bigint
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
    SELECT count(*) FROM {schema}.tenant_roots
    WHERE sovereign_ivk = ivk_version OR active_ivk = ivk_version
$$;

REVOKE ALL ON FUNCTION {schema}.scan_tenant_roots(text, integer, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION {schema}.scan_tenant_roots_wrapped_below(integer, text, integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION {schema}.ivk_references(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION {schema}.scan_tenant_roots(text, integer, boolean) TO {app};
GRANT EXECUTE ON FUNCTION {schema}.scan_tenant_roots_wrapped_below(integer, text, integer) TO {app};
GRANT EXECUTE ON FUNCTION {schema}.ivk_references(integer) TO {app};
"""

_V1_GRANTS = """
GRANT USAGE ON SCHEMA {schema} TO {app};
GRANT SELECT, INSERT, UPDATE, DELETE ON {schema}.objects, {schema}.object_names TO {app};
GRANT SELECT, INSERT, UPDATE ON {schema}.tenant_roots, {schema}.service_keys TO {app};
"""

# Migration 2: the hot reads in one round trip. Each function scopes the running transaction to
# the tenant (as ``rls.tenant.set_tenant`` does) and then reads; it runs as the caller
# (SECURITY INVOKER), so the policies apply to what it reads exactly as to any query.
_SCOPE = (
    f"PERFORM pg_catalog.set_config('{TENANT_SETTING}', p_tenant, true),"
    f" pg_catalog.set_config('{SCOPE_SETTING}', {TENANT_SCOPE_TOKEN}, true);"
)
_V2_SCOPED_READS = f"""
CREATE FUNCTION {{schema}}.scoped_get_object(p_tenant text, p_uid text)
RETURNS SETOF {{schema}}.objects
LANGUAGE plpgsql VOLATILE SECURITY INVOKER
SET search_path = pg_catalog, pg_temp SET plan_cache_mode = force_generic_plan
AS $$
BEGIN
    IF p_tenant IS NULL OR p_tenant = '' THEN
        RAISE EXCEPTION 'a tenant id is never empty';
    END IF;
    {_SCOPE}
    RETURN QUERY SELECT o.* FROM {{schema}}.objects AS o
        WHERE o.unique_identifier = p_uid AND o.tenant_id = p_tenant;
END
$$;

CREATE FUNCTION {{schema}}.scoped_find_by_name(
    p_tenant text, p_names text[], p_type integer, p_states integer[], p_service text)
RETURNS SETOF {{schema}}.objects
LANGUAGE plpgsql VOLATILE SECURITY INVOKER
SET search_path = pg_catalog, pg_temp SET plan_cache_mode = force_generic_plan
AS $$
BEGIN
    IF p_tenant IS NULL OR p_tenant = '' THEN
        RAISE EXCEPTION 'a tenant id is never empty';
    END IF;
    {_SCOPE}
    RETURN QUERY SELECT o.* FROM {{schema}}.object_names AS n
        JOIN {{schema}}.objects AS o ON o.seq = n.seq
        WHERE n.tenant_id = p_tenant AND n.name = p_names[1] AND o.tenant_id = p_tenant
        AND (p_type IS NULL OR o.object_type = p_type)
        AND (p_states IS NULL OR o.state = ANY (p_states))
        AND (p_service IS NULL OR o.service = p_service)
        AND NOT EXISTS (
            SELECT 1 FROM unnest(p_names[2:]) AS wanted (name)
            WHERE NOT EXISTS (
                SELECT 1 FROM {{schema}}.object_names AS m
                WHERE m.tenant_id = p_tenant AND m.seq = o.seq AND m.name = wanted.name))
        ORDER BY o.seq;
END
$$;

REVOKE ALL ON FUNCTION {{schema}}.scoped_get_object(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION {{schema}}.scoped_find_by_name(text, text[], integer, integer[], text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION {{schema}}.scoped_get_object(text, text) TO {{app}};
GRANT EXECUTE ON FUNCTION {{schema}}.scoped_find_by_name(text, text[], integer, integer[], text) TO {{app}};
"""  # noqa: S608 - constants only

# Migration 3: names held by live objects, one holder per (tenant, name). The backfill reads
# every tenant's rows as the owner: FORCE is lifted for the statement and restored before the
# transaction ends (a migration is one transaction, ``rls.runner``).
_V3_HELD_NAMES = """
CREATE TABLE {schema}.held_names (
    tenant_id text NOT NULL CHECK (tenant_id <> ''),
    name text NOT NULL,
    seq bigint NOT NULL,
    PRIMARY KEY (tenant_id, name),
    FOREIGN KEY (tenant_id, name, seq) REFERENCES {schema}.object_names (tenant_id, name, seq)
        ON DELETE CASCADE
);
CREATE INDEX held_names_by_object ON {schema}.held_names (seq);

ALTER TABLE {schema}.objects NO FORCE ROW LEVEL SECURITY;
ALTER TABLE {schema}.object_names NO FORCE ROW LEVEL SECURITY;
INSERT INTO {schema}.held_names (tenant_id, name, seq)
    SELECT n.tenant_id, n.name, min(n.seq) FROM {schema}.object_names AS n
    JOIN {schema}.objects AS o ON o.seq = n.seq
    WHERE o.state <> ALL (ARRAY[5, 6])  -- not Destroyed, not Destroyed Compromised
    GROUP BY n.tenant_id, n.name;
ALTER TABLE {schema}.objects FORCE ROW LEVEL SECURITY;
ALTER TABLE {schema}.object_names FORCE ROW LEVEL SECURITY;

GRANT SELECT, INSERT, DELETE ON {schema}.held_names TO {app};
"""

# Migration 4: L4 wraps counted per L3 version. A constant default: no table rewrite. How many
# wraps an existing version made is unknown: each counts as spent, so its service rotates at its
# next wrap; the update reads every tenant's rows as the owner (FORCE lifted as in migration 3).
_V4_L3_WRAP_COUNTS = f"""
ALTER TABLE {{schema}}.service_keys ADD COLUMN wrap_count bigint NOT NULL DEFAULT 0;
ALTER TABLE {{schema}}.service_keys NO FORCE ROW LEVEL SECURITY;
UPDATE {{schema}}.service_keys SET wrap_count = {MAX_WRAPS_PER_KEY};
ALTER TABLE {{schema}}.service_keys FORCE ROW LEVEL SECURITY;
"""  # noqa: S608 - constants only

MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "tables, row-level security, operator scans",
        _V1_TABLES
        + "".join(_tenant_policy(t) for t in ("objects", "object_names", "tenant_roots", "service_keys"))
        + "".join(_core_only(t) for t in ("ivk_versions", "seal_config"))
        + _V1_SCANS
        + _V1_GRANTS,
    ),
    Migration(2, "tenant-scoped reads in one round trip", _V2_SCOPED_READS),
    Migration(
        3, "names held by live objects, unique per tenant", _V3_HELD_NAMES + _tenant_policy("held_names")
    ),
    Migration(4, "L4 wraps counted per L3 version", _V4_L3_WRAP_COUNTS),
)

LATEST_VERSION = MIGRATIONS[-1].version
