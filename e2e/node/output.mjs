// What each agent saw, written as JSON to $AGENT_OUTPUT (stdout when
// unset): the test compares the recording's with the replay's.
import { writeFileSync } from 'node:fs';

export function writeOutput(out) {
  const text = JSON.stringify(out, null, 2) + '\n';
  if (process.env.AGENT_OUTPUT) {
    writeFileSync(process.env.AGENT_OUTPUT, text);
  } else {
    process.stdout.write(text);
  }
}
