import 'reflect-metadata';
// Tests connect to PostgreSQL as the superuser: nodes they start as processes (serve) would refuse
// those rights (src/store/db-roles.ts). Tests of the refusal set databaseAllowExcessPrivileges: false.
process.env.OPENCES_DATABASE_ALLOW_EXCESS_PRIVILEGES ??= 'true';
