#!/usr/bin/env node
// SPDX-License-Identifier: MIT
// render.js ENGINE TEMPLATE MEMBERS.json: the baselines of bench/render.sh. Renders TEMPLATE
// with ENGINE (mustache or handlebars) from the members file and writes the result to
// stdout, building the part of haserf's context (docs/templates.md) the template uses:
// by_tag.role.backend (alive members with role=backend, sorted by name; each {name, addr
// without the port, port, status, tags}) and counts.alive / counts.total. No escaping, as
// haserf (the output is a config file).
'use strict';
const fs = require('fs');

const [engine, templateFile, membersFile] = process.argv.slice(2);
if (!membersFile || !['mustache', 'handlebars'].includes(engine)) {
  process.stderr.write('usage: render.js mustache|handlebars TEMPLATE MEMBERS.json\n');
  process.exit(2);
}
// Load only the engine measured: a process loading both would pay for both.
const template = fs.readFileSync(templateFile, 'utf8');
const parsed = JSON.parse(fs.readFileSync(membersFile, 'utf8'));
// `serf members -format=json` prints {"members": [...]}; haserf also takes a bare array.
const members = Array.isArray(parsed) ? parsed : parsed.members;

// "10.0.0.1:7946" -> "10.0.0.1", "[fd00::1]:7946" -> "fd00::1".
function ip(addr) {
  if (addr.startsWith('[')) return addr.slice(1, addr.indexOf(']'));
  const colon = addr.lastIndexOf(':');
  return colon < 0 ? addr : addr.slice(0, colon);
}

let alive = 0;
const backends = [];
for (const m of members) {
  if (m.status !== 'alive') continue;
  alive++;
  const tags = m.tags || {};
  if (tags.role === 'backend') {
    backends.push({ name: m.name, addr: ip(m.addr), port: m.port, status: m.status, tags });
  }
}
// Byte order, as haserf (names are ASCII here, so UTF-16 order is the same).
backends.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
const context = {
  by_tag: { role: { backend: backends } },
  counts: { alive, total: members.length },
};

let out;
if (engine === 'mustache') {
  const Mustache = require('mustache');
  Mustache.escape = (s) => s;
  out = Mustache.render(template, context);
} else {
  const Handlebars = require('handlebars');
  // compat: mustache's name resolution up the context stack. Without it, {{tags.weight}}
  // inside {{#tags.weight}} (whose context is the string "50") resolves to nothing.
  out = Handlebars.compile(template, { noEscape: true, compat: true })(context);
}
process.stdout.write(out);
