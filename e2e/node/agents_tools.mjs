// An @openai/agents agent with two function tools, which the model calls
// in parallel (parallel_tool_calls): the SDK runs both, then asks again.
import { Agent, run, tool } from '@openai/agents';
import { z } from 'zod';
import { writeOutput } from './output.mjs';

const calls = [];
const lookupOrder = tool({
  name: 'lookup_order',
  description: 'Look an order up by its id',
  parameters: z.object({ order_id: z.string() }),
  execute: async ({ order_id }) => {
    calls.push(`lookup_order(${order_id})`);
    return `order ${order_id} shipped on 2026-01-02`;
  },
});
const trackParcel = tool({
  name: 'track_parcel',
  description: 'Track the parcel of an order',
  parameters: z.object({ order_id: z.string() }),
  execute: async ({ order_id }) => {
    calls.push(`track_parcel(${order_id})`);
    return `parcel of ${order_id} arrives tomorrow`;
  },
});

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
