// Parallel requests with Promise.all: streamed and whole chat completions
// and an Anthropic message at once, then two more streams at once.
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { writeOutput } from './output.mjs';

const openai = new OpenAI();
const anthropic = new Anthropic();

async function streamed(prompt) {
  const stream = await openai.chat.completions.create({ model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', content: prompt }] });
  const deltas = [];
  for await (const chunk of stream) {
    const d = chunk.choices[0]?.delta?.content;
    if (d) deltas.push(d);
  }
  return { prompt, deltas };
}
async function whole(prompt, options) {
  const res = await openai.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: prompt }] }, options);
  return { prompt, id: res.id, content: res.choices[0].message.content };
}
async function claude(prompt) {
  const res = await anthropic.messages.create({ model: 'claude-haiku-4-5', max_tokens: 64, messages: [{ role: 'user', content: prompt }] });
  return { prompt, id: res.id, content: res.content };
}

const fanOut = await Promise.all([
  streamed('Summarise ticket T-1'),
  streamed('Summarise ticket T-2'),
  whole('Classify ticket T-3'),
  claude('Translate ticket T-4'),
]);

const second = await Promise.all([streamed('Reply to ticket T-1'), streamed('Reply to ticket T-2')]);

writeOutput({ fanOut, second });
