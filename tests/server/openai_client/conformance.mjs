// The official OpenAI Node client against `detinfer serve` (run.sh starts it on models/verbs):
// the calls an OpenAI user makes, and what the client parses from the answers, checked against
// OpenAI's documented behaviour. Prints "N passed, M failed"; exits 1 on any failure.
import assert from "node:assert/strict";
import OpenAI from "openai";

const baseURL = process.argv[2];
const client = new OpenAI({ baseURL, apiKey: "unused", maxRetries: 0 });
const model = "verbs";
let passed = 0, failed = 0;

async function check(name, fn) {
  try {
    await fn();
    ++passed;
    console.log(`ok   ${name}`);
  } catch (e) {
    ++failed;
    console.log(`FAIL ${name}: ${e && e.stack ? e.stack : e}`);
  }
}

async function rejects(promise, status, param, code) {
  try {
    await promise;
  } catch (e) {
    assert.ok(e instanceof OpenAI.APIError, `not an APIError: ${e}`);
    assert.equal(e.status, status, e.message);
    if (param !== undefined) assert.equal(e.param, param, e.message);
    if (code !== undefined) assert.equal(e.code, code, e.message);
    return e;
  }
  assert.fail(`expected HTTP ${status}`);
}

await check("models.list and models.retrieve", async () => {
  const list = await client.models.list();
  assert.equal(list.data[0].id, model);
  assert.equal((await client.models.retrieve(model)).id, model);
  await rejects(client.models.retrieve("no-such-model"), 404, undefined, "model_not_found");
});

const greedy = { model, prompt: "Yesterday I", max_tokens: 6, temperature: 0, logprobs: 2 };
await check("completions: text, logprobs, usage, repeatable", async () => {
  const a = await client.completions.create(greedy);
  const b = await client.completions.create(greedy);
  const c = a.choices[0];
  assert.equal(typeof c.text, "string");
  assert.ok(["length", "stop"].includes(c.finish_reason));
  assert.equal(c.logprobs.tokens.length, a.usage.completion_tokens);
  assert.equal(c.logprobs.token_logprobs.length, a.usage.completion_tokens);
  for (const top of c.logprobs.top_logprobs) assert.ok(Object.keys(top).length >= 1);
  // The tokens' strings spell the text; a stop token (EOS) is listed with its logprob, but its
  // text is not part of the answer (docs/server.md).
  const spelled = c.logprobs.tokens.join("");
  if (c.finish_reason === "length") assert.equal(spelled, c.text);
  else assert.ok(spelled.startsWith(c.text), `${spelled} / ${c.text}`);
  assert.deepEqual(b.choices[0], c);  // the same answer, to the last logprob digit
  assert.equal(a.usage.total_tokens, a.usage.prompt_tokens + a.usage.completion_tokens);
});

await check("completions: seeded sampling repeats", async () => {
  const req = { model, prompt: "Every day he", max_tokens: 8, temperature: 1, seed: 7 };
  const a = await client.completions.create(req);
  const b = await client.completions.create(req);
  assert.equal(a.choices[0].text, b.choices[0].text);
});

await check("completions: streamed text and usage equal the answer", async () => {
  const whole = await client.completions.create(greedy);
  const stream = await client.completions.create({ ...greedy, stream: true,
                                                   stream_options: { include_usage: true } });
  let text = "", usage = null, chunks = 0;
  for await (const chunk of stream) {
    ++chunks;
    if (chunk.choices.length === 0) { usage = chunk.usage; continue; }
    assert.equal(chunk.usage, null);  // every chunk but the usage one has "usage": null
    text += chunk.choices[0].text;
  }
  assert.ok(chunks >= 2);
  assert.equal(text, whole.choices[0].text);
  assert.deepEqual(usage, whole.usage);
});

await check("completions: a list of prompts with n, streamed too", async () => {
  const req = { model, prompt: ["Yesterday I", "Tomorrow we"], n: 2, max_tokens: 4,
                temperature: 1, seed: 3 };
  const whole = await client.completions.create(req);
  assert.deepEqual(whole.choices.map((c) => c.index), [0, 1, 2, 3]);
  const texts = ["", "", "", ""];
  for await (const chunk of await client.completions.create({ ...req, stream: true })) {
    for (const c of chunk.choices) texts[c.index] += c.text;
  }
  assert.deepEqual(texts, whole.choices.map((c) => c.text));
});

await check("completions: echo with max_tokens 0 scores the prompt", async () => {
  const r = await client.completions.create({ model, prompt: "Yesterday I", max_tokens: 0,
                                              echo: true, logprobs: 0 });
  const c = r.choices[0];
  assert.equal(c.text, "Yesterday I");
  assert.equal(c.logprobs.token_logprobs[0], null);
  assert.ok(c.logprobs.token_logprobs.slice(1).every((x) => typeof x === "number" && x <= 0));
  assert.equal(r.usage.completion_tokens, 0);
  // text_offset points into the text.
  const { tokens, text_offset } = c.logprobs;
  assert.equal(text_offset.length, tokens.length);
  assert.equal(c.text.slice(text_offset[2]).trimStart().startsWith("I"), true);
});

const chatReq = { model, messages: [{ role: "user", content: "Yesterday I" }], max_tokens: 5,
                  temperature: 0, logprobs: true, top_logprobs: 2 };
await check("chat: message, refusal, logprobs, streamed content", async () => {
  const r = await client.chat.completions.create(chatReq);
  const c = r.choices[0];
  assert.equal(c.message.role, "assistant");
  assert.equal(typeof c.message.content, "string");
  assert.equal(c.message.refusal, null);
  assert.equal(c.logprobs.content.length, r.usage.completion_tokens);
  for (const t of c.logprobs.content) assert.equal(t.top_logprobs.length, 2);
  let content = "";
  for await (const chunk of await client.chat.completions.create({ ...chatReq, stream: true })) {
    if (chunk.choices.length) content += chunk.choices[0].delta.content ?? "";
  }
  assert.equal(content, c.message.content);
});

await check("penalties and min_tokens are applied and repeat", async () => {
  const req = { model, prompt: "Yesterday I", max_tokens: 10, temperature: 0,
                presence_penalty: 1.5, frequency_penalty: 0.5, min_tokens: 10 };
  const a = await client.completions.create(req);
  const b = await client.completions.create(req);
  assert.equal(a.choices[0].text, b.choices[0].text);
  assert.equal(a.usage.completion_tokens, 10);  // nothing ends it before min_tokens
});

await check("errors: 400 with the field named, never ignored", async () => {
  await rejects(client.completions.create({ ...greedy, temperature: -1 }), 400, "temperature");
  await rejects(client.chat.completions.create({ ...chatReq,
                                                 response_format: { type: "json_object" } }),
                400, "response_format");
  await rejects(client.chat.completions.create({ ...chatReq, tool_choice: "required",
      tools: [{ type: "function", function: { name: "f", parameters: {} } }] }),
                400, "tool_choice");
  await rejects(client.completions.create({ ...greedy, max_tokens: 100000 }), 400, "max_tokens",
                "context_length_exceeded");
  await rejects(client.completions.create({ ...greedy, model: "other" }), 404, undefined,
                "model_not_found");
});

console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
