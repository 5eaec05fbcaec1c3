// agentrr view: the page. Plain JavaScript, no dependencies, nothing
// loaded from anywhere but the agentrr server (or, in a report, nothing
// at all: the answers are embedded in the file).
'use strict';

const embedded = document.getElementById('agentrr-data');
const REPORT = embedded ? JSON.parse(embedded.textContent) : null;
const app = document.getElementById('app');
let timers = [];
let current = null; // {page, id, doc} of the page shown

// api answers path from the server, or from the report's embedded answers.
async function api(path) {
  if (REPORT) {
    const doc = REPORT.docs[path];
    if (doc === undefined) {
      const e = new Error('not in this report (agentrr view shows it from the store)');
      e.status = 404;
      throw e;
    }
    return doc;
  }
  const r = await fetch(path, {headers: {Accept: 'application/json'}});
  let body;
  try { body = await r.json(); } catch (_) { body = {error: r.status + ' ' + r.statusText}; }
  if (!r.ok) {
    const e = new Error(body.error || r.statusText);
    e.status = r.status;
    throw e;
  }
  return body;
}

// h makes an element: h('a', {href: '#/', class: 'x'}, 'text', child, [more]).
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  add(el, children);
  return el;
}

function add(el, children) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) add(el, c);
    else el.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

function clear(el, ...children) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return add(el, children);
}

// every polls fn every ms milliseconds while the page is visible: a
// background tab costs the store nothing.
function every(ms, fn) {
  if (REPORT) return;
  timers.push(setInterval(() => { if (!document.hidden) fn(); }, ms));
}

function stopTimers() {
  timers.forEach(clearInterval);
  timers = [];
}

function setLive(text) {
  clear(document.getElementById('live'), text || '');
}

// Formatting.

const short = (id) => (id || '').slice(0, 8);

function duration(ns) {
  if (ns === undefined || ns === null || ns < 0) return '-';
  if (ns < 1e3) return ns + 'ns';
  if (ns < 1e6) return (ns / 1e3).toFixed(ns < 1e4 ? 1 : 0) + 'µs';
  if (ns < 1e9) return (ns / 1e6).toFixed(ns < 1e7 ? 2 : 1) + 'ms';
  if (ns < 60e9) return (ns / 1e9).toFixed(2) + 's';
  return Math.round(ns / 60e9) + 'm' + Math.round((ns % 60e9) / 1e9) + 's';
}

function when(iso) {
  if (!iso || iso.startsWith('0001-')) return '-';
  const d = new Date(iso);
  return d.toLocaleString(undefined, {year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit'});
}

function plural(n, one, many) { return n + ' ' + (n === 1 ? one : many); }

function branchLabel(branch) { return branch ? branch : '(root)'; }

function position(b) { return branchLabel(b.branch) + '[' + b.index + ']'; }

function statusBadge(status, extra) {
  return h('span', {class: 'badge st-' + String(status).replace(/[^a-z]/g, ''), title: extra || ''}, status);
}

function kindBadge(kind) { return h('span', {class: 'kind k-' + kind}, kind); }

function runStatus(info) {
  if (info.status === 'recording') return statusBadge('recording', 'pid ' + info.pid);
  if (info.status === 'complete' && info.ended && info.ended.error) return statusBadge('complete', 'the agent ended with an error');
  return statusBadge(info.status, info.reason);
}

function verdictOf(info) {
  if (!info.replay_of) return '';
  return (info.ended && info.ended.verdict) || 'unfinished';
}

// forkOf describes a fork: where it left its recording and how much it
// ran live; '' for other runs.
function forkOf(info) {
  const e = info.ended;
  if (!info.replay_of || !e || e.fork_seq === undefined || e.fork_seq === null) return '';
  return 'fork: went on live ' + (e.fork_seq < 0 ? 'past the end of the recording' : 'at seq ' + e.fork_seq) + ', ' + plural(e.live || 0, 'boundary', 'boundaries') + ' live';
}

function runLink(id, text) { return h('a', {href: '#/run/' + id, 'data-run': id}, text || short(id)); }

function boundaryLink(id, seq, text) { return h('a', {href: '#/run/' + id + '/b/' + seq}, text || 'seq ' + seq); }

function section(title, ...children) {
  return h('section', {class: 'card'}, h('h2', {}, title), children);
}

function errorBox(err) {
  return h('div', {class: 'error'}, String(err && err.message ? err.message : err));
}

// JSON paths, written as agentrr writes them: messages[0].content,
// ["key with space"], [3].
function pathJoin(parent, key) {
  if (typeof key === 'number') return parent + '[' + key + ']';
  if (/^[A-Za-z0-9_]+$/.test(key)) return parent ? parent + '.' + key : key;
  return parent + '[' + JSON.stringify(key) + ']';
}

// jsonTree renders a JSON value; marks maps a path to {cls, title,
// onclick} for the values to point out (changed, found elsewhere).
function jsonTree(value, marks, path = '', depth = 0, openDepth = 6) {
  const mark = marks && marks.get(path);
  const decorate = (el) => {
    if (mark) {
      el.classList.add(mark.cls);
      if (mark.title) el.title = mark.title;
      if (mark.onclick) { el.classList.add('clickable'); el.addEventListener('click', mark.onclick); }
    }
    return el;
  };
  if (value === null) return decorate(h('span', {class: 'j-null'}, 'null'));
  if (Array.isArray(value) || typeof value === 'object') {
    const isArr = Array.isArray(value);
    const entries = isArr ? value.map((v, i) => [i, v]) : Object.keys(value).sort().map((k) => [k, value[k]]);
    if (entries.length === 0) return decorate(h('span', {class: 'j-punct'}, isArr ? '[]' : '{}'));
    const list = h('div', {class: 'j-children'});
    for (const [k, v] of entries) {
      list.appendChild(h('div', {class: 'j-row'},
        isArr ? null : h('span', {class: 'j-key'}, JSON.stringify(k), ': '),
        jsonTree(v, marks, pathJoin(path, k), depth + 1, openDepth)));
    }
    const det = h('details', {class: 'j-node', open: depth < openDepth ? true : undefined},
      h('summary', {class: 'j-punct'}, isArr ? '[' + entries.length + ']' : '{' + entries.length + '}'), list);
    return decorate(det);
  }
  if (typeof value === 'string') return decorate(h('span', {class: 'j-str'}, JSON.stringify(value)));
  return decorate(h('span', {class: typeof value === 'number' ? 'j-num' : 'j-bool'}, String(value)));
}

function pretty(value) {
  return h('pre', {class: 'raw'}, typeof value === 'string' ? value : JSON.stringify(value, null, 2));
}

// Routing: #/ (runs), #/run/ID[/b/SEQ], #/compare/A/B.

function route() {
  const parts = location.hash.replace(/^#\/?/, '').split('/').filter(Boolean).map(decodeURIComponent);
  if (parts[0] === 'run' && parts[1]) {
    const seq = parts[2] === 'b' && parts[3] !== undefined ? Number(parts[3]) : null;
    return showRun(parts[1], seq);
  }
  stopTimers();
  if (parts[0] === 'compare' && parts[1] && parts[2]) return showCompare(parts[1], parts[2]);
  return showRuns();
}

// The run list.

async function showRuns() {
  current = {page: 'runs'};
  document.title = 'agentrr view';
  const selected = new Set();
  const compareBtn = h('button', {class: 'btn', disabled: true, onclick: () => {
    const [a, b] = [...selected];
    location.hash = '#/compare/' + a + '/' + b;
  }}, 'Compare the two selected runs');
  const body = h('tbody');
  const table = h('table', {class: 'runs', 'data-test': 'runs-table'},
    h('thead', {}, h('tr', {}, ['', 'run', 'name', 'service', 'started', 'boundaries', 'status', 'replay'].map((t) => h('th', {}, t)))), body);
  const where = h('p', {class: 'muted'});
  clear(app, section('Runs', where, table, h('p', {}, compareBtn)));
  let last = '';
  const load = async () => {
    let doc;
    try { doc = await api('/api/runs'); } catch (e) { clear(where, errorBox(e)); return; }
    const text = JSON.stringify(doc);
    if (text === last) { setLive(REPORT ? '' : 'live · checked ' + new Date().toLocaleTimeString()); return; }
    last = text;
    clear(where, REPORT ? 'The runs this report holds.' : plural(doc.runs.length, 'run', 'runs') + ' in ' + doc.store + ', newest first.');
    clear(body);
    if (doc.runs.length === 0) body.appendChild(h('tr', {}, h('td', {colspan: 8, class: 'muted'}, 'No runs yet: record one by running an agent built with otelrr.')));
    for (const r of doc.runs) {
      const box = h('input', {type: 'checkbox', title: 'select to compare', onchange: (ev) => {
        if (ev.target.checked) selected.add(r.trace_id); else selected.delete(r.trace_id);
        compareBtn.disabled = selected.size !== 2;
      }});
      box.checked = selected.has(r.trace_id);
      const verdict = verdictOf(r);
      body.appendChild(h('tr', {'data-run': r.trace_id},
        h('td', {}, box),
        h('td', {class: 'mono'}, runLink(r.trace_id)),
        h('td', {}, runLink(r.trace_id, r.name || '(unnamed)')),
        h('td', {}, r.service || ''),
        h('td', {}, when(r.start)),
        h('td', {class: 'num'}, r.boundaries),
        h('td', {}, runStatus(r)),
        h('td', {}, r.replay_of ? [forkOf(r) ? 'fork of ' : 'of ', runLink(r.replay_of), ': ', statusBadge(verdict), forkOf(r) ? h('div', {class: 'muted'}, forkOf(r)) : null] : '')));
    }
    setLive(REPORT ? '' : 'live · checked ' + new Date().toLocaleTimeString());
  };
  await load();
  every(3000, load);
}

// One run.

async function showRun(id, seq) {
  if (current && current.page === 'run' && (current.id === id || current.doc && current.doc.run.trace_id === id) && current.doc) {
    openBoundary(current, seq);
    return;
  }
  stopTimers();
  current = {page: 'run', id};
  const state = current;
  let doc;
  try { doc = await api('/api/runs/' + id); } catch (e) { clear(app, section('Run ' + id, errorBox(e), h('p', {}, h('a', {href: '#/'}, 'all runs')))); return; }
  if (state !== current) return;
  state.doc = doc;
  renderRun(state);
  openBoundary(state, seq);
  watchRun(state);
}

// watchRun polls a run that is being recorded (or has not ended) and
// shows it again when it changed.
function watchRun(state) {
  const info = state.doc.run;
  if (REPORT || (info.status !== 'recording' && info.ended)) { setLive(''); return; }
  setLive('live · this run has not ended: watching it');
  let seen = JSON.stringify([info.status, info.boundaries, !!info.ended]);
  every(2000, async () => {
    if (state !== current) return;
    let st;
    try { st = await api('/api/runs/' + info.trace_id + '/status'); } catch (_) { return; }
    const now = JSON.stringify([st.status, st.boundaries, !!st.ended]);
    setLive((st.status === 'recording' ? 'live · being recorded by pid ' + st.pid : 'live · ' + st.status) + ' · checked ' + new Date().toLocaleTimeString());
    if (now === seen) return;
    seen = now;
    try { state.doc = await api('/api/runs/' + info.trace_id); } catch (_) { return; }
    if (state !== current) return;
    renderRun(state);
    openBoundary(state, state.seq);
    if (st.status !== 'recording' && st.ended) { stopTimers(); setLive('live · the run ended'); }
  });
}

function renderRun(state) {
  const doc = state.doc;
  const info = doc.run;
  document.title = (info.name || short(info.trace_id)) + ' · agentrr view';
  const tokens = doc.boundaries.reduce((acc, b) => {
    if (b.input_tokens !== undefined) acc[0] += b.input_tokens;
    if (b.output_tokens !== undefined) acc[1] += b.output_tokens;
    return acc;
  }, [0, 0]);
  const branches = new Set(doc.boundaries.map((b) => b.branch || ''));
  const fields = [
    ['run', h('span', {class: 'mono'}, info.trace_id)],
    ['name', info.name],
    ['service', info.service],
    ['started', when(info.start) + (info.ended ? ', took ' + duration((new Date(info.ended.end) - new Date(info.start)) * 1e6) : '')],
    ['status', [runStatus(info), info.reason ? ' ' + info.reason : '']],
    ['agent error', info.ended && info.ended.error],
    ['replay of', info.replay_of ? [runLink(info.replay_of, info.replay_of), ' (' + (info.replay_mode || 'strict') + '): ', statusBadge(verdictOf(info)),
      info.ended && info.ended.divergences ? ' ' + plural(info.ended.divergences, 'divergence', 'divergences') : ''] : null],
    ['fork', forkOf(info) || null],
    ['boundaries', plural(doc.boundaries.length, 'boundary', 'boundaries') + (branches.size > 1 ? ' on ' + plural(branches.size, 'branch', 'branches') : '') +
      (tokens[0] || tokens[1] ? ', ' + tokens[0] + ' input + ' + tokens[1] + ' output tokens' : '')],
    ['build', doc.build ? [doc.build.module, doc.build.version, doc.build.vcs_revision ? 'rev ' + doc.build.vcs_revision.slice(0, 12) + (doc.build.vcs_modified ? ' (modified)' : '') : '', doc.build.go].filter(Boolean).join(' · ') : null],
  ];
  const dl = h('dl', {class: 'fields'});
  for (const [k, v] of fields) {
    if (v === null || v === undefined || v === '' || (Array.isArray(v) && v.length === 0)) continue;
    dl.appendChild(h('dt', {}, k));
    dl.appendChild(h('dd', {}, v));
  }
  const top = [section(info.name || 'Run', dl, h('p', {class: 'links'}, h('a', {href: '#/'}, '← all runs')))];
  if (info.status === 'recording') {
    top.push(h('div', {class: 'note'}, 'This run is being recorded by pid ' + info.pid + '. Its boundaries can be read once its recorder ends it; this page shows them then.'));
  }
  if (info.replay_of) {
    const div = h('div', {'data-test': 'divergence'}, h('p', {class: 'muted'}, 'Comparing with the recording…'));
    top.push(section('Divergence from the recording', div));
    showDivergence(div, info.trace_id, info.replay_of);
  }
  if (doc.replays && doc.replays.length) {
    top.push(section('Replays of this run', h('ul', {class: 'plain'}, doc.replays.map((r) => h('li', {},
      runLink(r.trace_id), ' ', when(r.start), ' ', statusBadge(verdictOf(r)), ' · ',
      h('a', {href: '#/compare/' + info.trace_id + '/' + r.trace_id}, 'compare'))))));
  }
  const panel = h('div', {class: 'panel', 'data-test': 'boundary'}, h('p', {class: 'muted'}, 'Open a boundary to see its request and response.'));
  const live = new Set(doc.live || []);
  for (const b of doc.boundaries) if (live.has(b.seq)) b.status = b.status === 'ok' ? 'live' : b.status + ', live';
  const timeline = renderTimeline(doc, info.trace_id);
  const table = renderTable(doc, info.trace_id);
  state.panel = panel;
  state.table = table;
  clear(app, top, h('div', {class: 'run-layout'},
    h('div', {class: 'left'}, section('Timeline', timeline), section('Boundaries', table)),
    h('div', {class: 'right'}, panel)));
}

const kindLetter = {llm: 'L', tool: 'T', clock: 'C', rand: 'R', id: 'I', http: 'H'};
const maxDrawn = 3000;

// renderTimeline draws one lane per branch; boundaries in seq order, each
// as wide as its duration makes it (on a log scale).
function renderTimeline(doc, id) {
  const bs = doc.boundaries.slice(0, maxDrawn);
  if (bs.length === 0) return h('p', {class: 'muted'}, 'No boundaries.');
  const width = (b) => Math.round(18 + 7 * Math.log10(1 + Math.max(0, b.duration_ns) / 1000));
  const lanes = new Map();
  for (const b of bs) if (!lanes.has(b.branch || '')) lanes.set(b.branch || '', []);
  let x = 0;
  const xs = bs.map((b) => { const at = x; x += width(b) + 3; return at; });
  const rows = [];
  for (const [branch] of lanes) {
    const track = h('div', {class: 'track'});
    track.style.width = x + 'px';
    bs.forEach((b, i) => {
      if ((b.branch || '') !== branch) return;
      const chip = h('a', {class: 'chip k-' + b.kind + b.status.split(', ').filter((st) => st !== 'ok').map((st) => ' s-' + st).join(''), href: '#/run/' + id + '/b/' + b.seq, 'data-seq': b.seq,
        title: 'seq ' + b.seq + ' · ' + position(b) + ' · ' + b.kind + ' ' + b.name + ' · ' + duration(b.duration_ns) + ' · ' + b.status}, kindLetter[b.kind] || '?');
      chip.style.left = xs[i] + 'px';
      chip.style.width = width(b) + 'px';
      track.appendChild(chip);
    });
    rows.push(h('div', {class: 'lane'}, h('div', {class: 'lane-label', title: branchLabel(branch)}, branchLabel(branch)), h('div', {class: 'lane-track'}, track)));
  }
  return h('div', {class: 'timeline', 'data-test': 'timeline'}, rows,
    h('p', {class: 'legend muted'}, 'Seq order from left to right, one lane per branch; wider is longer. ',
      Object.entries(kindLetter).map(([k, l]) => h('span', {class: 'chip-legend k-' + k}, l + ' ' + k)),
      doc.boundaries.length > maxDrawn ? ' Only the first ' + maxDrawn + ' are drawn.' : ''));
}

function renderTable(doc, id) {
  const longest = Math.max(1, ...doc.boundaries.map((b) => b.duration_ns));
  const branched = doc.boundaries.some((b) => b.branch);
  const body = h('tbody');
  const rows = doc.boundaries.slice(0, maxDrawn);
  for (const b of rows) {
    const bar = h('span', {class: 'bar'});
    bar.style.width = Math.max(1, Math.round(60 * b.duration_ns / longest)) + 'px';
    body.appendChild(h('tr', {class: 'clickable', 'data-seq': b.seq, onclick: () => { location.hash = '#/run/' + id + '/b/' + b.seq; }},
      h('td', {class: 'num'}, boundaryLink(id, b.seq, String(b.seq))),
      branched ? h('td', {class: 'mono'}, position(b)) : null,
      h('td', {}, kindBadge(b.kind)),
      h('td', {class: 'name'}, b.name),
      h('td', {class: 'num'}, bar, ' ', duration(b.duration_ns)),
      h('td', {}, statusBadge(b.status, b.divergence || b.error), b.concurrency_group !== undefined ? h('span', {class: 'muted'}, ' concurrent') : null),
      h('td', {class: 'num'}, b.input_tokens !== undefined || b.output_tokens !== undefined ? (b.input_tokens ?? '?') + '/' + (b.output_tokens ?? '?') : '')));
  }
  const head = ['seq', branched ? 'branch' : null, 'kind', 'name', 'duration', 'status', 'tokens'].filter((x) => x !== null);
  return h('div', {class: 'scroll'}, h('table', {class: 'boundaries'}, h('thead', {}, h('tr', {}, head.map((t) => h('th', {}, t)))), body),
    doc.boundaries.length > maxDrawn ? h('p', {class: 'muted'}, 'The first ' + maxDrawn + ' of ' + doc.boundaries.length + ' boundaries; agentrr show lists them all.') : null);
}

// The boundary panel.

async function openBoundary(state, seq) {
  state.seq = seq;
  if (!state.panel) return;
  for (const tr of state.table.querySelectorAll('tr.selected')) tr.classList.remove('selected');
  for (const el of document.querySelectorAll('.chip.selected')) el.classList.remove('selected');
  if (seq === null || seq === undefined || Number.isNaN(seq)) return;
  const row = state.table.querySelector('tr[data-seq="' + seq + '"]');
  if (row) row.classList.add('selected');
  const chip = document.querySelector('.chip[data-seq="' + seq + '"]');
  if (chip) chip.classList.add('selected');
  const id = state.doc.run.trace_id;
  clear(state.panel, h('p', {class: 'muted'}, 'Loading seq ' + seq + '…'));
  let doc;
  try { doc = await api('/api/runs/' + id + '/boundaries/' + seq); } catch (e) { clear(state.panel, errorBox(e)); return; }
  if (state.seq !== seq || state !== current) return;
  renderBoundary(state.panel, id, doc);
  state.panel.scrollIntoView({block: 'nearest'});
}

function renderBoundary(panel, id, doc) {
  const b = doc.boundary;
  const tabs = [];
  if (doc.conversation) tabs.push(['Conversation', () => renderConversation(doc.conversation)]);
  tabs.push(['Request', () => renderRequest(id, b)]);
  if (b.response !== undefined) tabs.push(['Response', () => jsonBlock(b.response)]);
  if (b.error) tabs.push(['Error', () => h('pre', {class: 'raw err'}, b.error)]);
  tabs.push(['Where from', () => renderWhy(id, b.seq)]);
  tabs.push(['Raw JSON', () => h('div', {}, h('p', {class: 'muted'}, 'The boundary as agentrr inspect --json shows it.'), pretty(b))]);
  const body = h('div', {class: 'tab-body'});
  const bar = h('div', {class: 'tabs', role: 'tablist'});
  const show = (i) => {
    for (const [j, btn] of [...bar.children].entries()) btn.classList.toggle('active', i === j);
    clear(body, tabs[i][1]());
  };
  tabs.forEach(([name], i) => bar.appendChild(h('button', {class: 'tab', role: 'tab', 'data-tab': name, onclick: () => show(i)}, name)));
  clear(panel,
    h('h2', {}, 'seq ' + b.seq + ' · ', kindBadge(b.kind), ' ', b.name, ' ', statusBadge(b.status)),
    h('p', {class: 'muted'}, [position({branch: b.attributes['agentrr.branch'], index: b.attributes['agentrr.branch.index'] ?? b.seq}), duration(b.duration_ns), 'signature ' + b.signature.slice(0, 12), b.span_name].join(' · ')),
    b.divergence ? h('div', {class: 'note bad'}, 'Diverged: ' + b.divergence) : null,
    bar, body);
  show(0);
}

function jsonBlock(value, marks, openDepth) {
  return h('div', {class: 'json'}, jsonTree(value, marks, '', 0, openDepth));
}

function renderConversation(c) {
  const part = (p) => {
    switch (p.type) {
      case 'text':
        return h('div', {class: 'text'}, typeof p.content === 'string' ? p.content : JSON.stringify(p.content));
      case 'tool_call':
        return h('div', {class: 'toolcall'}, h('div', {class: 'muted'}, 'tool call ', h('b', {}, p.name || '?'), p.id ? ' · ' + p.id : ''),
          pretty(typeof p.arguments === 'string' ? tryParse(p.arguments) : p.arguments));
      case 'tool_call_response':
        return h('div', {class: 'toolresult'}, h('div', {class: 'muted'}, 'tool result', p.id ? ' for ' + p.id : ''),
          typeof p.response === 'string' ? h('div', {class: 'text'}, p.response) : pretty(p.response));
      default:
        return h('div', {}, h('div', {class: 'muted'}, p.type), pretty(p.content));
    }
  };
  const msg = (m) => h('div', {class: 'msg role-' + m.role}, h('div', {class: 'role'}, m.role, m.finish_reason ? h('span', {class: 'muted'}, ' · ' + m.finish_reason) : null), (m.parts || []).map(part));
  return h('div', {class: 'conversation', 'data-test': 'conversation'},
    h('p', {class: 'muted'}, c.source === 'gen_ai' ? 'Read from the OpenTelemetry GenAI attributes the HTTP transport recorded.' : 'Read from the request and response JSON.'),
    c.system && c.system.length ? msg({role: 'system', parts: c.system}) : null,
    c.input.map(msg),
    h('div', {class: 'divider'}, 'the model answered'),
    c.output.length ? c.output.map(msg) : h('p', {class: 'muted'}, 'No answer (the call failed, or the response holds no message).'));
}

function tryParse(s) { try { return JSON.parse(s); } catch (_) { return s; } }

// renderRequest shows the request with the strings that came from earlier
// boundaries marked (once the provenance is in).
function renderRequest(id, b) {
  const holder = h('div', {}, jsonBlock(b.request));
  const note = h('p', {class: 'muted'}, 'Looking for where its text came from…');
  api('/api/runs/' + id + '/why?seq=' + b.seq).then((w) => {
    const marks = new Map();
    for (const s of w.strings) {
      if (!s.found) continue;
      const src = s.fragments[0].sources[0];
      marks.set(s.path, {cls: 'found', title: s.found + ' of ' + s.length + ' characters from seq ' + src.seq + ' ' + src.kind + ' ' + src.name + "'s " + src.part + ' — click to open it',
        onclick: (ev) => { ev.stopPropagation(); location.hash = '#/run/' + id + '/b/' + src.seq; }});
    }
    clear(holder, jsonBlock(b.request, marks));
    clear(note, marks.size ? 'Highlighted: text that came from earlier boundaries (click one to open its source; "Where from" has the details).' : 'No text of this request came from an earlier boundary.');
  }).catch((e) => clear(note, 'Provenance: ' + e.message));
  return h('div', {}, note, holder);
}

function placeText(p) {
  let s = 'seq ' + p.seq + (p.branch ? ' (' + p.branch + '[' + p.index + '])' : '') + ' ' + p.kind + ' ' + p.name + "'s " + p.part;
  if (p.path) s += ' at ' + p.path;
  if (p.decoded) s += ', decoded as JSON: ' + p.decoded;
  if (p.whole) s += ' (the whole value)';
  return s;
}

function fragmentView(id, f) {
  return h('div', {class: 'fragment'},
    h('div', {}, f.whole ? 'the whole string' : 'characters ' + f.start + '-' + f.end, ', ' + plural(f.length, 'character', 'characters'), ': ', h('q', {}, f.text)),
    h('ul', {class: 'plain'}, f.sources.map((p, i) => h('li', {}, i ? 'also in ' : 'from ', boundaryLink(id, p.seq, placeText(p))))),
    f.more_sources ? h('div', {class: 'muted'}, 'and in ' + plural(f.more_sources, 'more response', 'more responses')) : null,
    h('div', {class: 'chain muted'}, 'chain: seq ' + f.sources[0].seq + ' ' + f.sources[0].part,
      f.via ? [' → ', boundaryLink(id, f.via.seq, 'seq ' + f.via.seq + ' request ' + f.via.path), f.via_count > 1 ? ' → ' + plural(f.via_count - 1, 'more request', 'more requests') : ''] : '', ' → here'),
    f.inner && f.inner.length ? h('div', {class: 'inner'}, h('div', {class: 'muted'}, 'inside it, text its source had been sent:'), f.inner.map((x) => fragmentView(id, x))) : null);
}

// renderWhy shows where each string of boundary seq's request came from;
// only lists the strings under prefix when given.
function renderWhy(id, seq, prefix) {
  const out = h('div', {class: 'why', 'data-test': 'why'}, h('p', {class: 'muted'}, 'Looking…'));
  api('/api/runs/' + id + '/why?seq=' + seq).then((w) => {
    const strings = w.strings.filter((s) => prefix === undefined || s.path === prefix || s.path.startsWith(prefix + '.') || s.path.startsWith(prefix + '['));
    const found = strings.filter((s) => s.found > 0);
    const missing = strings.filter((s) => s.found === 0);
    clear(out,
      prefix === undefined ? h('p', {class: 'muted'}, 'Searched the responses of ' + plural(w.searched, 'earlier boundary', 'earlier boundaries') +
        ' that had ended before this one started, for the text of its request: exact runs of ' + w.min_length + ' characters or more (shorter strings: whole values).') : null,
      w.partial ? h('div', {class: 'note'}, w.partial) : null,
      found.map((s) => h('div', {class: 'string'},
        h('div', {class: 'path'}, h('code', {}, s.path || 'request'), ' ', s.found === s.length ? 'all ' + plural(s.length, 'character', 'characters') + ' found' : s.found + ' of ' + s.length + ' characters found'),
        s.fragments.map((f) => fragmentView(id, f)),
        s.more_fragments ? h('div', {class: 'muted'}, 'and ' + plural(s.more_fragments, 'more fragment', 'more fragments')) : null)),
      missing.length ? h('div', {class: 'string notfound'},
        h('div', {class: 'path'}, found.length || prefix !== undefined ? 'Not found' : 'Nothing in this request came from an earlier boundary', ' — the agent\'s own text, or from outside the recorded boundaries:'),
        h('ul', {class: 'plain'}, missing.map((s) => h('li', {}, h('code', {}, s.path || 'request'), ' ', h('q', {}, s.value),
          s.sent_before && s.sent_before.seq < seq ? [' — the agent sent it first in ', boundaryLink(id, s.sent_before.seq, 'seq ' + s.sent_before.seq + "'s request")] : '')))) : null);
  }).catch((e) => clear(out, errorBox(e)));
  return out;
}

// Divergence and comparison.

async function showDivergence(el, id, original) {
  let d;
  try { d = await api('/api/runs/' + id + '/divergence'); } catch (e) { clear(el, errorBox(e)); return; }
  const c = d.comparison;
  if (c.identical) {
    clear(el, h('p', {}, statusBadge('faithful'), ' The replay matched its recording ', runLink(original), ' boundary for boundary (' + plural(c.matched, 'boundary', 'boundaries') + ').'));
    return;
  }
  const e = c.entries[c.first_divergence];
  clear(el,
    h('p', {}, counts(c), ' · ', h('a', {href: '#/compare/' + original + '/' + id}, 'compare the whole runs')),
    firstDivergence(c, e));
}

function counts(c) {
  return [c.matched + ' matched', c.changed + ' changed', c.inserted + ' inserted', c.removed + ' removed'].join(', ');
}

function entryWhat(c, e) {
  return (c.branched ? 'branch ' + branchLabel(e.branch) + ', ' : '') + e.kind + ' ' + e.name;
}

// firstDivergence shows entry e of comparison c: what differs, the two
// requests side by side with the changes marked, the structural diff, and
// where the changed text of b's request came from.
function firstDivergence(c, e) {
  const a = c.a.trace_id, b = c.b.trace_id;
  if (e.op === 'inserted') {
    return h('div', {class: 'first'}, h('p', {}, 'First divergence: ', boundaryLink(b, e.seq_b, 'b seq ' + e.seq_b), ', ' + entryWhat(c, e) + ': only in b (inserted).'));
  }
  if (e.op === 'removed') {
    return h('div', {class: 'first'}, h('p', {}, 'First divergence: ', boundaryLink(a, e.seq_a, 'a seq ' + e.seq_a), ', ' + entryWhat(c, e) + ': only in a (removed: never requested in b).'));
  }
  return h('div', {class: 'first'},
    h('p', {}, 'First divergence: ', boundaryLink(a, e.seq_a, 'a seq ' + e.seq_a), ', ', boundaryLink(b, e.seq_b, 'b seq ' + e.seq_b), ', ' + entryWhat(c, e) + ': ' + (e.differs || []).join(', ') + ' differ.'),
    entryDetail(c, e));
}

function entryDetail(c, e) {
  const a = c.a.trace_id, b = c.b.trace_id;
  const left = h('div', {class: 'side'}, h('h3', {}, 'a · ', runLink(a), ' seq ' + e.seq_a), h('p', {class: 'muted'}, 'Loading…'));
  const right = h('div', {class: 'side'}, h('h3', {}, 'b · ', runLink(b), ' seq ' + e.seq_b), h('p', {class: 'muted'}, 'Loading…'));
  const changedPaths = (changes) => new Map((changes || []).map((ch) => [ch.path, {cls: 'changed', title: ch.op + (ch.expected !== undefined ? ': was ' + ch.expected : '')}]));
  const fill = async (side, run, seq, label) => {
    try {
      const d = await api('/api/runs/' + run + '/boundaries/' + seq);
      const bd = d.boundary;
      clear(side, side.firstChild,
        h('div', {class: 'muted'}, 'request'), jsonBlock(bd.request, changedPaths(e.request_diff)),
        bd.response !== undefined ? [h('div', {class: 'muted'}, 'response (click to unfold)'), jsonBlock(bd.response, changedPaths(e.response_diff), 1)] : null,
        bd.error ? [h('div', {class: 'muted'}, 'error'), h('pre', {class: 'raw err'}, bd.error)] : null);
    } catch (err) { clear(side, side.firstChild, errorBox(err)); void label; }
  };
  fill(left, a, e.seq_a, 'a');
  fill(right, b, e.seq_b, 'b');
  const diffRows = [];
  for (const [what, changes] of [['request', e.request_diff], ['response', e.response_diff]]) {
    for (const ch of changes || []) {
      diffRows.push(h('tr', {class: 'op-' + ch.op}, h('td', {}, what), h('td', {class: 'mono'}, ch.path || '(the whole ' + what + ')'), h('td', {}, ch.op),
        h('td', {class: 'mono val'}, ch.expected ?? ''), h('td', {class: 'mono val'}, ch.observed ?? '')));
    }
  }
  const errors = [['a', e.error_a], ['b', e.error_b]].filter(([, t]) => t).map(([s, t]) => h('div', {class: 'note bad'}, 'error in ' + s + ': ' + t));
  // Where the changed text of b's request came from.
  const whyBox = h('div', {});
  const reqChanges = (e.request_diff || []).filter((ch) => ch.op !== 'removed');
  if (reqChanges.length) {
    whyBox.appendChild(h('h3', {}, 'Where the changed text of b\'s request came from'));
    for (const ch of reqChanges.slice(0, 4)) whyBox.appendChild(renderWhy(b, e.seq_b, ch.path));
  }
  return h('div', {},
    h('div', {class: 'sides'}, left, right),
    diffRows.length ? h('table', {class: 'diff', 'data-test': 'diff'}, h('thead', {}, h('tr', {}, ['', 'path', 'change', 'a (expected)', 'b (observed)'].map((t) => h('th', {}, t)))), h('tbody', {}, diffRows)) : null,
    errors, whyBox);
}

async function showCompare(a, b) {
  current = {page: 'compare'};
  document.title = 'compare ' + short(a) + ' ' + short(b) + ' · agentrr view';
  clear(app, section('Comparing ' + short(a) + ' with ' + short(b), h('p', {class: 'muted'}, 'Aligning…')));
  let c;
  try { c = await api('/api/compare?a=' + encodeURIComponent(a) + '&b=' + encodeURIComponent(b)); } catch (e) { clear(app, section('Compare', errorBox(e))); return; }
  const runLine = (label, r, other) => h('p', {}, h('b', {}, label + ': '), runLink(r.trace_id, r.trace_id), ' (' + (r.name || '') + ') · ' + plural(r.boundaries, 'boundary', 'boundaries') + ', ' + r.status,
    r.replay_of ? [', replay of ', r.replay_of === other ? 'the other' : runLink(r.replay_of), ': ', statusBadge(r.verdict || 'unfinished')] : '');
  const body = h('tbody');
  const cols = c.branched ? 7 : 6;
  for (let i = 0; i < c.entries.length;) {
    const e = c.entries[i];
    if (e.op === 'matched') {
      let j = i;
      while (j < c.entries.length && c.entries[j].op === 'matched' && c.entries[j].branch === e.branch) j++;
      if (j - i >= 3) {
        const last = c.entries[j - 1];
        body.appendChild(h('tr', {class: 'fold'}, h('td', {}, e.seq_a + '-' + last.seq_a), h('td', {}, e.seq_b + '-' + last.seq_b), c.branched ? h('td', {}, branchLabel(e.branch)) : null,
          h('td', {colspan: 3, class: 'muted'}, (j - i) + ' matched')));
        i = j;
        continue;
      }
    }
    const detail = h('tr', {class: 'detail', hidden: true}, h('td', {colspan: cols}));
    const row = h('tr', {class: 'op-' + e.op + (e.op !== 'matched' ? ' clickable' : '')},
      h('td', {}, e.seq_a < 0 ? '-' : boundaryLink(a, e.seq_a, String(e.seq_a))),
      h('td', {}, e.seq_b < 0 ? '-' : boundaryLink(b, e.seq_b, String(e.seq_b))),
      c.branched ? h('td', {class: 'mono'}, branchLabel(e.branch) + '[' + (e.index_a >= 0 ? e.index_a : e.index_b) + ']') : null,
      h('td', {}, kindBadge(e.kind), ' ', e.name), h('td', {}, statusBadge(e.op)), h('td', {}, (e.differs || []).join(', ')));
    if (e.op === 'changed') {
      row.addEventListener('click', (ev) => {
        if (ev.target.tagName === 'A') return;
        detail.hidden = !detail.hidden;
        if (!detail.hidden && !detail.firstChild.firstChild) detail.firstChild.appendChild(entryDetail(c, e));
      });
    }
    body.appendChild(row);
    body.appendChild(detail);
    i++;
  }
  const head = ['a', 'b', c.branched ? 'branch' : null, 'boundary', 'result', 'differs'].filter((x) => x !== null);
  clear(app,
    section('Comparing two runs',
      runLine('a', c.a, c.b.trace_id), runLine('b', c.b, c.a.trace_id),
      h('p', {}, c.identical ? 'The runs are identical: ' + plural(c.matched, 'boundary', 'boundaries') + ' matched.' : counts(c) + (c.approximate ? ' (a long differing stretch was aligned position by position)' : '')),
      h('p', {class: 'muted'}, 'Aligned as agentrr diff aligns them: in order, by kind and name, branch by branch; a pair matches when its requests and responses are equal.'),
      h('p', {class: 'links'}, h('a', {href: '#/'}, '← all runs'))),
    c.identical ? null : section('First divergence', firstDivergence(c, c.entries[c.first_divergence])),
    section('Alignment', h('div', {class: 'scroll'}, h('table', {class: 'align', 'data-test': 'alignment'}, h('thead', {}, h('tr', {}, head.map((t) => h('th', {}, t)))), body)),
      h('p', {class: 'muted'}, 'Click a changed row for its diff.')));
}

if (REPORT) {
  document.getElementById('where').textContent = 'report of run ' + short(REPORT.report.run) + ', made ' + when(REPORT.report.created) +
    (REPORT.report.why_omitted ? ' (without provenance: the run is too long; agentrr why answers for it)' : '');
  if (!location.hash) location.hash = '#/run/' + REPORT.report.run;
}
window.addEventListener('hashchange', route);
route();
