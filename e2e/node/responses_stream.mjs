// The openai SDK's Responses API: a function call, then the answer as a
// stream of typed events.
import OpenAI from 'openai';
import { writeOutput } from './output.mjs';

const client = new OpenAI();
const tools = [
  {
    type: 'function',
    name: 'track_parcel',
    description: 'Track a parcel by its order id',
    parameters: { type: 'object', properties: { order_id: { type: 'string' } }, required: ['order_id'], additionalProperties: false },
    strict: true,
  },
];
const input = [{ role: 'user', content: 'Track order C-3003 for me.' }];
const out = { turns: [], events: [], deltas: [], answer: '' };

const first = await client.responses.create({ model: 'gpt-4.1-mini', instructions: 'You track parcels.', input, tools });
out.turns.push({ id: first.id, output: first.output, usage: first.usage });
for (const item of first.output) {
  if (item.type !== 'function_call') continue;
  input.push(item);
  input.push({ type: 'function_call_output', call_id: item.call_id, output: `parcel for ${JSON.parse(item.arguments).order_id} arrives tomorrow` });
}

const stream = await client.responses.create({ model: 'gpt-4.1-mini', instructions: 'You track parcels.', input, tools, stream: true });
for await (const event of stream) {
  out.events.push(event.type);
  if (event.type === 'response.output_text.delta') out.deltas.push(event.delta);
  if (event.type === 'response.completed') out.answer = event.response.output_text ?? event.response.output.map((o) => o.content?.map((c) => c.text).join('')).join('');
}
writeOutput(out);
