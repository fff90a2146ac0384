// Export a tenant with pg_tenant_backup to a file, and import it back, from
// Node.js with node-postgres (npm package "pg"). Connection settings come
// from the usual PG* environment variables.
//
//   node tenant_export_import.js export 42 /tmp/tenant-42.json ['{"exclude_tables": ["events"]}']
//   node tenant_export_import.js import /tmp/tenant-42.json
//
// merge matches rows by primary key: leave tables that have none out of the
// export (or name a unique key per table with backup_import's key_columns).
'use strict';

const fs = require('fs');
const { Client } = require('pg');

async function exportTenant(client, tenant, path, options = '{}') {
  // The snapshot document: jsonb comes back as a JavaScript object.
  const { rows } = await client.query('SELECT tenant_backup.backup_export($1, $2::jsonb) AS doc', [tenant, options]);
  const doc = rows[0].doc;
  fs.writeFileSync(path, JSON.stringify(doc));
  const stats = doc.statistics;
  console.log(`exported tenant ${doc.metadata.tenant.id}: ${stats.table_count} tables, ${stats.total_rows} rows`);
}

async function importTenant(client, path) {
  const saved = fs.readFileSync(path, 'utf8');
  try {
    // A preview first (nothing changes), then the merge, all or nothing.
    const preview = await client.query(
      `SELECT tenant_backup.backup_import($1::jsonb, 'merge', '{"dry_run": true}') -> 'totals' AS totals`, [saved]);
    console.log('dry run:', JSON.stringify(preview.rows[0].totals));
    const merged = await client.query(`SELECT tenant_backup.backup_import($1::jsonb, 'merge') -> 'totals' AS totals`, [saved]);
    console.log('merged:', JSON.stringify(merged.rows[0].totals));
  } catch (err) {
    if (err.code !== '55P03') throw err;  // 55P03: another import or restore of the tenant runs
    console.log('busy: another import or restore of this tenant is running; try later');
  }
}

async function main([command, ...args]) {
  const client = new Client();
  await client.connect();
  try {
    if (command === 'export') await exportTenant(client, ...args);
    else if (command === 'import') await importTenant(client, ...args);
    else throw new Error('usage: export TENANT FILE [OPTIONS] | import FILE');
  } finally {
    await client.end();
  }
}

main(process.argv.slice(2)).catch((err) => {
  console.error(`error ${err.code || ''}: ${err.message}`);
  process.exit(1);
});
