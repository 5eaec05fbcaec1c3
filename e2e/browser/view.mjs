// Drives agentrr view in headless Chromium (e2e/view_test.go runs it):
// opens a recorded run, opens an LLM boundary and reads its conversation,
// asks where a prompt's text came from, opens a diverged replay and reads
// its diff, opens the same run's self-contained report from a file, and
// takes a screenshot of each. Any request to anything but the view server
// fails the run. Inputs come from the environment:
//
//   VIEW_URL     the view's base URL (http://127.0.0.1:PORT/)
//   RUN_ID       a run of examples/openai_agent
//   REPLAY_ID    a replay of it that diverged at seq 0 (another question)
//   REPORT_FILE  agentrr report of REPLAY_ID, as an absolute path
//   OUT_DIR      where the screenshots go
//   CHROMIUM     the browser (default /usr/bin/chromium)
import { chromium } from 'playwright-core';

const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} is not set`);
  return v;
};
const base = env('VIEW_URL');
const runID = env('RUN_ID');
const replayID = env('REPLAY_ID');
const reportFile = env('REPORT_FILE');
const out = env('OUT_DIR');

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const elsewhere = [];
const problems = [];
const expect = (ok, what) => { if (!ok) problems.push(what); };

try {
  const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
  const page = await context.newPage();
  page.on('request', (r) => {
    const u = r.url();
    if (!u.startsWith(base) && !u.startsWith('file://') && !u.startsWith('data:')) elsewhere.push(u);
  });
  page.on('pageerror', (e) => problems.push('page error: ' + e.message));
  const step = (name) => console.log('step: ' + name);

  step('the run list');
  await page.goto(base + '#/');
  const row = page.locator(`[data-test=runs-table] tr[data-run="${runID}"]`);
  await row.waitFor();
  await row.locator(`a[data-run="${runID}"]`).first().click();

  step('the run: timeline, then the last LLM call');
  await page.locator('[data-test=timeline] .chip[data-seq="4"]').waitFor();
  const lanes = await page.locator('[data-test=timeline] .chip').count();
  expect(lanes === 5, `timeline shows ${lanes} boundaries, want 5`);
  await page.locator('[data-test=timeline] .chip[data-seq="4"]').click();
  const conv = page.locator('[data-test=boundary] [data-test=conversation]');
  await conv.waitFor();
  const convText = await conv.innerText();
  for (const want of ['You are a helpful support agent for Acme', 'Where is my order A-1001?', 'lookup_order',
    'order A-1001 is delayed at the depot, new delivery in 2 days.', 'late orders get their shipping refunded on request.',
    'Here is what I found']) {
    expect(convText.includes(want), `conversation lacks ${JSON.stringify(want)}`);
  }
  for (const role of ['system', 'user', 'assistant', 'tool']) {
    expect(await conv.locator('.msg.role-' + role).count() > 0, `conversation has no ${role} message`);
  }
  await page.screenshot({ path: out + '/run.png', fullPage: false });

  step('where the prompt came from');
  await page.locator('[data-test=boundary] button[data-tab="Where from"]').click();
  const why = page.locator('[data-test=boundary] [data-test=why]');
  await why.locator('.string').first().waitFor();
  const whyText = await why.innerText();
  expect(/from seq 1 tool lookup_order's response/.test(whyText), 'provenance does not name seq 1 tool lookup_order');
  expect(/from seq 3 tool refund_policy's response/.test(whyText), 'provenance does not name seq 3 tool refund_policy');
  expect(whyText.includes("the agent's own text"), 'provenance does not say what is the agent\'s own');
  await page.screenshot({ path: out + '/why.png', fullPage: false });

  step('the raw JSON');
  await page.locator('[data-test=boundary] button[data-tab="Raw JSON"]').click();
  const raw = await page.locator('[data-test=boundary] pre.raw').innerText();
  expect(raw.includes('"gen_ai.input.messages"') && raw.includes('"signature"'), 'raw JSON lacks the attributes');

  step('the diverged replay');
  await page.goto(base + '#/run/' + replayID);
  const diff = page.locator('[data-test=divergence] [data-test=diff]');
  await diff.waitFor();
  const diffText = await diff.innerText();
  expect(diffText.includes('body.messages[1].content'), 'the diff does not name body.messages[1].content');
  expect(diffText.includes('A-1001') && diffText.includes('A-1002'), 'the diff does not show both questions');
  const sides = page.locator('[data-test=divergence] .side .changed');
  await sides.first().waitFor();
  expect(await sides.count() >= 2, 'the changed value is not marked on both sides');
  await page.locator('[data-test=divergence] .why .string').first().waitFor();
  const origin = await page.locator('[data-test=divergence] .why').innerText();
  expect(origin.includes("the agent's own text"), 'the divergence does not say where the changed text came from');
  await page.screenshot({ path: out + '/divergence.png', fullPage: true });

  step('the report, from a file, offline');
  const report = await context.newPage();
  report.on('request', (r) => { if (!r.url().startsWith('file://') && !r.url().startsWith('data:')) elsewhere.push(r.url()); });
  report.on('pageerror', (e) => problems.push('report page error: ' + e.message));
  await report.goto('file://' + reportFile);
  const rdiff = report.locator('[data-test=divergence] [data-test=diff]');
  await rdiff.waitFor();
  expect((await rdiff.innerText()).includes('body.messages[1].content'), 'the report\'s diff does not name the changed path');
  await report.goto('file://' + reportFile + '#/run/' + runID + '/b/4');
  await report.locator('[data-test=conversation]').waitFor();
  expect((await report.locator('[data-test=conversation]').innerText()).includes('late orders get their shipping refunded'), 'the report\'s conversation lacks the tool result');
  await report.screenshot({ path: out + '/report.png', fullPage: false });
} catch (e) {
  problems.push(String(e && e.stack || e));
} finally {
  await browser.close();
}
expect(elsewhere.length === 0, 'requests to elsewhere: ' + elsewhere.join(', '));
console.log(JSON.stringify({ problems }));
process.exit(problems.length ? 1 : 0);
