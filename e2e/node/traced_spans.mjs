// An agent instrumented with OpenTelemetry, as the proxy sees one: every
// request carries a W3C traceparent of the agent's trace. Two tasks run at
// once, each in its own span, each making two requests one after the
// other; the proxy records them in the trace's run, a branch per span.
import { randomBytes } from 'node:crypto';
import OpenAI from 'openai';
import { writeOutput } from './output.mjs';

const openai = new OpenAI();
const trace = randomBytes(16).toString('hex');

async function ask(prompt, headers) {
  const res = await openai.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: prompt }] }, { headers });
  return { prompt, id: res.id, content: res.choices[0].message.content };
}
async function task(name) {
  const headers = { traceparent: `00-${trace}-${randomBytes(8).toString('hex')}-01` };
  const a = await ask(`Plan step 1 of ${name}`, headers);
  const b = await ask(`Plan step 2 of ${name} after ${a.id}`, headers);
  return [a, b];
}
const tasks = await Promise.all([task('task K-1'), task('task K-2')]);
writeOutput({ trace, tasks });
