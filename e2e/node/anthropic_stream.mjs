// A support agent on @anthropic-ai/sdk: a tool call answered, then the
// answer streamed (text deltas as the SDK's stream helper emits them).
import Anthropic from '@anthropic-ai/sdk';
import { writeOutput } from './output.mjs';

const client = new Anthropic(); // ANTHROPIC_BASE_URL, ANTHROPIC_API_KEY

const tools = [
  {
    name: 'lookup_order',
    description: 'Look an order up by its id',
    input_schema: { type: 'object', properties: { order_id: { type: 'string' } }, required: ['order_id'] },
  },
];
const messages = [{ role: 'user', content: 'Where is order B-2002?' }];
const out = { turns: [], deltas: [], answer: '' };

const first = await client.messages.create({ model: 'claude-sonnet-4-5', max_tokens: 256, system: 'You help with orders.', tools, messages });
out.turns.push({ id: first.id, stop_reason: first.stop_reason, content: first.content, usage: first.usage });
const use = first.content.find((b) => b.type === 'tool_use');
messages.push({ role: 'assistant', content: first.content });
messages.push({ role: 'user', content: [{ type: 'tool_result', tool_use_id: use.id, content: `order ${use.input.order_id} is in transit` }] });

const stream = client.messages.stream({ model: 'claude-sonnet-4-5', max_tokens: 256, system: 'You help with orders.', tools, messages });
stream.on('text', (delta) => out.deltas.push(delta));
const final = await stream.finalMessage();
out.answer = final.content.filter((b) => b.type === 'text').map((b) => b.text).join('');
out.final = { id: final.id, stop_reason: final.stop_reason, usage: final.usage };
writeOutput(out);
