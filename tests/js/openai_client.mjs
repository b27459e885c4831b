// The official `openai` npm client against an AIVM node, unchanged (run by tests/chat/test_api_quorum.py).
// Prints one JSON line: what the client saw.
import OpenAI from "openai";

const [baseURL, model] = process.argv.slice(2);
const client = new OpenAI({ baseURL, apiKey: "unused", maxRetries: 2, timeout: 300_000 });
const messages = [{ role: "user", content: "Say hello." }];

const models = (await client.models.list()).data.map((m) => m.id);
const done = await client.chat.completions.create({ model, messages, max_tokens: 4, temperature: 0 });
let streamed = "";
let streamUsage = null;
const stream = await client.chat.completions.create({
  model, messages, max_tokens: 4, temperature: 0, stream: true, stream_options: { include_usage: true },
});
for await (const chunk of stream) {
  if (chunk.choices.length) streamed += chunk.choices[0].delta.content ?? "";
  if (chunk.usage) streamUsage = chunk.usage;
}
let notFound = null;
try {
  await client.chat.completions.create({ model: "no-such-model", messages });
} catch (err) {
  notFound = { status: err.status, code: err.code };
}
console.log(JSON.stringify({
  models, content: done.choices[0].message.content, usage: done.usage, streamed, streamUsage, notFound,
  computation_id: done.aivm.computation_id,
}));
