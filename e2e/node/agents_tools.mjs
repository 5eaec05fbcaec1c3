// An @openai/agents agent with two function tools, which the model calls
// in parallel (parallel_tool_calls): the SDK runs both, then asks again.
import { Agent, run, tool } from '@openai/agents';
import { z } from 'zod';
import { writeOutput } from './output.mjs';

const calls = [];

// orderTool is a function tool that takes an order id, notes its call in
// calls, and answers answer(order_id).
function orderTool(name, description, answer) {
  return tool({
    name,
    description,
    parameters: z.object({ order_id: z.string() }),
    execute: async ({ order_id }) => {
      calls.push(`${name}(${order_id})`);
      return answer(order_id);
    },
  });
}

const lookupOrder = orderTool('lookup_order', 'Look an order up by its id', (id) => `order ${id} shipped on 2026-01-02`);
const trackParcel = orderTool('track_parcel', 'Track the parcel of an order', (id) => `parcel of ${id} arrives tomorrow`);

const agent = new Agent({
  name: 'Support',
  instructions: 'You are a support agent. Use both tools at once, then answer.',
  model: 'gpt-4.1-mini',
  tools: [lookupOrder, trackParcel],
  modelSettings: { parallelToolCalls: true },
});

const result = await run(agent, 'Where is order D-4004?');
const items = result.newItems.map((i) => ({ type: i.type, raw: i.rawItem?.type ?? null, name: i.rawItem?.name ?? null, call_id: i.rawItem?.callId ?? i.rawItem?.call_id ?? null }));
writeOutput({ finalOutput: result.finalOutput, items, toolsRun: calls.sort() });
