-- 001 check the mount
-- Rule: writes nothing. Fails with a clear message when the MicroMasters schema, or any
-- table the steps read, is missing, so that an operator learns it before anything is written.
-- The command also checks this (and each column) in its preflight; this file keeps the
-- check runnable on its own, e.g. from psql: `SET micromasters_import.source_schema = ...`.
-- Writes: nothing
-- Needs: nothing
DO $$
DECLARE
    source_schema text := coalesce(
        nullif(current_setting('micromasters_import.source_schema', true), ''), 'micromasters');
    missing text;
BEGIN
    IF to_regnamespace(quote_ident(source_schema)) IS NULL THEN
        RAISE EXCEPTION 'schema "%" does not exist: mount MicroMasters first (./manage.py setup_micromasters_fdw)', source_schema;
    END IF;
    SELECT string_agg(t, ', ' ORDER BY t) INTO missing
      FROM unnest(ARRAY[
          'social_auth_usersocialauth', 'courses_program', 'courses_course', 'courses_courserun',
          'exams_examrun', 'dashboard_cachedenrollment', 'dashboard_programenrollment',
          'grades_finalgrade', 'grades_proctoredexamgrade',
          'grades_micromasterscoursecertificate', 'grades_micromastersprogramcertificate',
          'financialaid_tierprogram', 'financialaid_financialaid',
          'ecommerce_order', 'ecommerce_line', 'ecommerce_receipt'
      ]) AS t
     WHERE to_regclass(quote_ident(source_schema) || '.' || quote_ident(t)) IS NULL;
    IF missing IS NOT NULL THEN
        RAISE EXCEPTION 'schema "%" lacks MicroMasters tables: %', source_schema, missing;
    END IF;
END
$$;
