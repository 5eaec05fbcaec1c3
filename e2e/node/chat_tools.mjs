// A support agent on the openai SDK's Chat Completions: it calls tools
// until the model answers, then streams the answer once more.
import OpenAI from 'openai';
import { writeOutput } from './output.mjs';

const SYSTEM_PROMPT = 'You are a helpful support agent for Acme. Use the tools, then answer briefly.';

const client = new OpenAI(); // OPENAI_BASE_URL, OPENAI_API_KEY

const tools = [
  {
    type: 'function',
    function: {
      name: 'lookup_order',
      description: 'Look an order up by its id',
      parameters: { type: 'object', properties: { order_id: { type: 'string' } }, required: ['order_id'] },
    },
  },
  {
    type: 'function',
    function: {
      name: 'refund_policy',
      description: 'The refund policy for an order',
      parameters: { type: 'object', properties: { order_id: { type: 'string' } }, required: ['order_id'] },
    },
  },
];
const impl = {
  lookup_order: ({ order_id }) => `order ${order_id} shipped on 2026-01-02`,
  refund_policy: ({ order_id }) => `order ${order_id} can be refunded within 30 days`,
};

const messages = [
  { role: 'system', content: SYSTEM_PROMPT },
  { role: 'user', content: 'Where is order A-1001, and can I get a refund?' },
];
const out = { turns: [], deltas: [], answer: '' };
for (let turn = 0; turn < 5; turn++) {
  const res = await client.chat.completions.create({ model: 'gpt-4o-mini', messages, tools });
  const choice = res.choices[0];
  out.turns.push({ id: res.id, finish_reason: choice.finish_reason, tool_calls: choice.message.tool_calls ?? null, content: choice.message.content, usage: res.usage });
  if (!choice.message.tool_calls?.length) break;
  messages.push(choice.message);
  for (const call of choice.message.tool_calls) {
    const result = impl[call.function.name](JSON.parse(call.function.arguments));
    messages.push({ role: 'tool', tool_call_id: call.id, content: result });
  }
}
const stream = await client.chat.completions.create({
  model: 'gpt-4o-mini',
  messages,
  tools,
  stream: true,
  stream_options: { include_usage: true },
});
for await (const chunk of stream) {
  const delta = chunk.choices[0]?.delta?.content;
  if (delta) out.deltas.push(delta);
  if (chunk.usage) out.usage = chunk.usage;
}
out.answer = out.deltas.join('');
writeOutput(out);
