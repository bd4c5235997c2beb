#!/usr/bin/env node
// A hand-written SendGrid Event Webhook receiver, as teams write one instead of installing a
// product (../../shared/PERF.md, "Hand-written receivers"): Node.js http + better-sqlite3.
//
// One table per event type with `sg_event_id TEXT PRIMARY KEY` and INSERT OR IGNORE (the
// dedup), the event's raw JSON kept; one transaction per POST, synchronous=FULL in WAL mode,
// 200 only after COMMIT. better-sqlite3 is synchronous, so the event loop serialises writes.
// Node sends headers and body in one write; the listen backlog is 511.
//
// Usage: node node_receiver.js --db FILE [--port 0] [--port-file PATH]
'use strict';
const fs = require('fs');
const http = require('http');
const Database = require('better-sqlite3');

const args = {};
for (let i = 2; i < process.argv.length; i += 2) args[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
if (!args.db) {
  console.error('usage: node_receiver.js --db FILE [--port 0] [--port-file PATH]');
  process.exit(2);
}

const TYPES = ['processed', 'delivered', 'open', 'click', 'deferred', 'bounce', 'dropped',
  'spamreport', 'unsubscribe', 'group_unsubscribe', 'group_resubscribe', 'other'];
const db = new Database(args.db);
db.pragma('journal_mode = WAL');
db.pragma('synchronous = FULL');
const insert = {};
for (const t of TYPES) {
  db.exec(`CREATE TABLE IF NOT EXISTS ${t}_events (sg_event_id TEXT PRIMARY KEY, email TEXT,
           timestamp INTEGER, sg_message_id TEXT, raw TEXT NOT NULL)`);
  insert[t] = db.prepare(`INSERT OR IGNORE INTO ${t}_events VALUES (?, ?, ?, ?, ?)`);
}
const store = db.transaction((events) => {
  for (const e of events) {
    if (e === null || typeof e !== 'object' || Array.isArray(e)) continue;
    const t = TYPES.includes(e.event) ? e.event : 'other';
    const ts = Number.isInteger(e.timestamp) ? e.timestamp : null;
    insert[t].run(e.sg_event_id ?? null, e.email ?? null, ts, e.sg_message_id ?? null, JSON.stringify(e));
  }
});

function answer(res, status, body) {
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

const server = http.createServer((req, res) => {
  if (req.method !== 'POST') return answer(res, 405, '{"error":"POST only"}');
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    let events;
    try {
      events = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      if (!Array.isArray(events)) throw new Error('not an array');
    } catch (e) {
      return answer(res, 400, JSON.stringify({ error: e.message }));
    }
    try {
      store(events);
    } catch (e) {
      return answer(res, 503, JSON.stringify({ error: e.message }));
    }
    answer(res, 200, '{"ok":true}');
  });
});
server.keepAliveTimeout = 60000;
server.listen(Number(args.port || 0), '127.0.0.1', 511, () => {
  if (args['port-file']) {
    fs.writeFileSync(args['port-file'] + '.tmp', String(server.address().port));
    fs.renameSync(args['port-file'] + '.tmp', args['port-file']);
  }
});
